import { and, eq, gt, type SQL, sql } from 'drizzle-orm'
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core'
import type { Executor, Transaction } from '../../../db/client'
import { countAll } from '../../../db/client'
import { bumpVersion, containsText } from '../../../db/query'
import {
  communityPosts,
  countScopes,
  type PostStatus,
  postReports,
  type Role,
  users,
} from '../../../db/schema'
import { hasRole } from '../../http/auth'
import { assertIfMatch, type IfMatch } from '../../http/conditional'
import { listOrder, type PageRequest, readPage } from '../../http/pagination'
import { conflict, type FieldError, forbidden, notFound, validationFailed } from '../../http/problem'
import { recordAudit, target } from '../audit/service'
import type { CommunityModel } from './model'

/** Who is acting: a signed-in user (or null for anonymous readers). */
export interface Viewer {
  id: string
  role: Role
  fullName: string | null
  email: string
}

type PostRow = typeof communityPosts.$inferSelect

/** A post as the API shows it, and the row version behind its strong ETag. */
export interface VersionedPost {
  post: CommunityModel.Post
  version: number
}

const isStaff = (viewer: Viewer | null) => viewer !== null && hasRole(viewer.role, 'staff')

/** Published posts are public; any other status only to its author and to staff (404 to the rest). */
export const canSee = (post: Pick<PostRow, 'status' | 'authorId'>, viewer: Viewer | null) =>
  post.status === 'published' || (viewer !== null && (viewer.id === post.authorId || isStaff(viewer)))

/** The author's display name: the full name, else the part of the email before the @. */
export function displayName(fullName: string | null, email: string): string {
  const name = fullName?.trim()
  return name ? name : (email.split('@')[0] ?? email)
}
const authorName = sql<string>`coalesce(nullif(btrim(${users.fullName}), ''), split_part(${users.email}, '@', 1))`

export function toPostView(row: PostRow, author_name: string): CommunityModel.Post {
  return {
    id: row.id,
    title: row.title,
    content: row.content,
    author_id: row.authorId,
    author_name,
    status: row.status,
    report_count: row.reportCount,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  }
}

const selectPosts = (db: Executor) =>
  db
    .select({ post: communityPosts, authorName })
    .from(communityPosts)
    .innerJoin(users, eq(users.id, communityPosts.authorId))

async function findPost(db: Executor, id: number): Promise<VersionedPost | undefined> {
  const [row] = await selectPosts(db).where(eq(communityPosts.id, id)).limit(1)
  return row ? { post: toPostView(row.post, row.authorName), version: row.post.version } : undefined
}

/** Post ids are PostgreSQL `integer`s: a larger id names no post (404), not a database error. */
const MAX_POST_ID = 2_147_483_647

/** Locks the post for the rest of the transaction, so that concurrent writes to it queue up. */
async function lockPost(tx: Executor, id: number) {
  if (id > MAX_POST_ID) return undefined
  const [row] = await tx.select().from(communityPosts).where(eq(communityPosts.id, id)).for('update')
  return row
}

export async function createPost(
  db: Executor,
  author: Viewer,
  input: { title: string; content: string },
  options: { premoderation: boolean },
): Promise<VersionedPost> {
  const [row] = await db
    .insert(communityPosts)
    .values({
      authorId: author.id,
      title: input.title,
      content: input.content,
      status: options.premoderation ? 'pending' : 'published',
    })
    .returning()
  if (!row) throw new Error('insert returned no row')
  return { post: toPostView(row, displayName(author.fullName, author.email)), version: row.version }
}

/**
 * Anyone sees published posts; staff see every status and may filter by `status` and `reported`.
 * Those two filters from anyone else are a 422 rather than silently ignored.
 */
export async function listPosts(
  db: Executor,
  viewer: Viewer | null,
  query: CommunityModel.ListQuery,
  request: PageRequest,
) {
  const conditions: (SQL | undefined)[] = []
  if (isStaff(viewer)) {
    if (query.status !== undefined) conditions.push(eq(communityPosts.status, query.status))
    if (query.reported !== undefined)
      conditions.push(query.reported ? gt(communityPosts.reportCount, 0) : eq(communityPosts.reportCount, 0))
  } else {
    const errors: FieldError[] = []
    if (query.status !== undefined)
      errors.push({ pointer: '/query/status', detail: 'Only staff may filter posts by status.' })
    if (query.reported !== undefined)
      errors.push({ pointer: '/query/reported', detail: 'Only staff may filter reported posts.' })
    if (errors.length > 0) throw validationFailed(errors)
    conditions.push(eq(communityPosts.status, 'published'))
  }
  if (query.q !== undefined) conditions.push(containsText(communityPosts.title, query.q))
  if (query.author_id !== undefined) conditions.push(eq(communityPosts.authorId, query.author_id))
  const where = and(...conditions)
  // The totals of a status, or of every post, are counted; other filters count their matches.
  const counted =
    query.q !== undefined || query.author_id !== undefined || query.reported !== undefined
      ? null
      : !isStaff(viewer)
        ? countScopes.postsIn('published')
        : query.status !== undefined
          ? countScopes.postsIn(query.status)
          : countScopes.posts

  const result = await readPage<{ post: PostRow; authorName: string }>(request, {
    db,
    select: () => selectPosts(db).$dynamic(),
    table: communityPosts,
    where,
    order: listOrder(
      query.sort,
      {
        created_at: communityPosts.createdAt,
        updated_at: communityPosts.updatedAt,
        report_count: communityPosts.reportCount,
      },
      '-created_at',
      communityPosts.id,
    ),
    counted,
  })
  return { ...result, items: result.items.map((row) => toPostView(row.post, row.authorName)) }
}

export async function getPost(db: Executor, viewer: Viewer | null, id: number): Promise<VersionedPost> {
  if (id > MAX_POST_ID) throw notFound('No such post.')
  const [row] = await selectPosts(db).where(eq(communityPosts.id, id)).limit(1)
  if (!row || !canSee(row.post, viewer)) throw notFound('No such post.')
  return { post: toPostView(row.post, row.authorName), version: row.post.version }
}

export interface PostUpdate {
  title?: string
  content?: string
  status?: PostStatus
  moderation_reason?: string
}

/**
 * The author edits title and content; staff moderate with a status and a reason (staff do not
 * edit other people's words). A moderation that changes the status writes `post.moderate` in the
 * same transaction; setting the status a post already has changes nothing and writes no audit row.
 * Runs in the caller's transaction; a stale `If-Match` is 412 and changes nothing.
 */
export async function updatePost(
  tx: Transaction,
  viewer: Viewer,
  id: number,
  input: PostUpdate,
  client: { ip: string | null },
  ifMatch: IfMatch = null,
): Promise<VersionedPost> {
  const edits = input.title !== undefined || input.content !== undefined
  const moderates = input.status !== undefined || input.moderation_reason !== undefined
  if (!edits && !moderates) {
    throw validationFailed([
      { pointer: '/body', detail: 'Send at least one of title, content, or status with moderation_reason.' },
    ])
  }
  if (input.status !== undefined && input.moderation_reason === undefined) {
    throw validationFailed([
      { pointer: '/body/moderation_reason', detail: 'A moderation_reason is required with status.' },
    ])
  }
  if (input.status === undefined && input.moderation_reason !== undefined) {
    throw validationFailed([{ pointer: '/body/status', detail: 'moderation_reason goes with a status.' }])
  }

  const current = await lockPost(tx, id)
  if (!current || !canSee(current, viewer)) throw notFound('No such post.')
  if (edits && current.authorId !== viewer.id)
    throw forbidden('Only the author may edit a post’s title and content.')
  if (moderates && !isStaff(viewer)) throw forbidden('Only staff may moderate posts.')
  assertIfMatch(ifMatch, current.version)

  const changes: PgUpdateSetSource<typeof communityPosts> = {}
  if (input.title !== undefined) changes.title = input.title
  if (input.content !== undefined) changes.content = input.content
  const statusChanges = input.status !== undefined && input.status !== current.status
  if (statusChanges) {
    changes.status = input.status
    changes.moderationReason = input.moderation_reason ?? null
    changes.moderatedBy = viewer.id
    changes.moderatedAt = sql`now()`
  }
  if (Object.keys(changes).length > 0) {
    await tx
      .update(communityPosts)
      .set({ ...changes, ...bumpVersion(communityPosts) })
      .where(eq(communityPosts.id, id))
  }
  if (statusChanges) {
    await recordAudit(tx, {
      actorId: viewer.id,
      action: 'post.moderate',
      target: target('post', id),
      ip: client.ip,
      details: {
        before: { status: current.status },
        after: { status: input.status },
        reason: input.moderation_reason,
      },
    })
  }
  const updated = await findPost(tx, id)
  if (!updated) throw notFound('No such post.')
  return updated
}

/** The author deletes their post; staff delete anyone's, which is moderation and is audited. */
export async function deletePost(
  db: Executor,
  viewer: Viewer,
  id: number,
  client: { ip: string | null },
  ifMatch: IfMatch = null,
) {
  await db.transaction(async (tx) => {
    const current = await lockPost(tx, id)
    if (!current || !canSee(current, viewer)) throw notFound('No such post.')
    const isAuthor = current.authorId === viewer.id
    if (!isAuthor && !isStaff(viewer)) throw forbidden('Only the author or staff may delete a post.')
    assertIfMatch(ifMatch, current.version)
    await tx.delete(communityPosts).where(eq(communityPosts.id, id))
    if (!isAuthor) {
      await recordAudit(tx, {
        actorId: viewer.id,
        action: 'post.moderate',
        target: target('post', id),
        ip: client.ip,
        details: {
          before: { status: current.status, title: current.title, author_id: current.authorId },
          after: { deleted: true },
        },
      })
    }
  })
}

/**
 * One report per user and post (the post_reports primary key), counted atomically under the
 * post's row lock. When the reports since the last moderation decision reach `threshold`, a
 * published post is hidden for review in the same transaction (the caller's).
 */
export async function reportPost(
  tx: Transaction,
  reporter: Viewer,
  id: number,
  reason: string,
  options: { threshold: number },
): Promise<CommunityModel.Report> {
  const current = await lockPost(tx, id)
  if (!current || !canSee(current, reporter)) throw notFound('No such post.')
  if (current.authorId === reporter.id)
    throw forbidden('You cannot report your own post.', 'cannot_report_own_post')

  const [inserted] = await tx
    .insert(postReports)
    // clock_timestamp(), not the transaction's start: the report is dated after the row lock, so
    // it compares correctly with a moderation that committed while this transaction waited.
    .values({ postId: id, reporterId: reporter.id, reason, createdAt: sql`clock_timestamp()` })
    .onConflictDoNothing()
    .returning({ postId: postReports.postId })
  if (!inserted) throw conflict('You have already reported this post.', 'already_reported')

  let hide = false
  if (current.status === 'published' && current.reportCount + 1 >= options.threshold) {
    // Compared in SQL, at full precision: reports made after the last moderation decision.
    const since = sql`coalesce((select ${communityPosts.moderatedAt} from ${communityPosts} where ${communityPosts.id} = ${id}), '-infinity')`
    const [counted] = await tx
      .select({ total: countAll })
      .from(postReports)
      .where(and(eq(postReports.postId, id), gt(postReports.createdAt, since)))
    hide = (counted?.total ?? 0) >= options.threshold
  }

  const [updated] = await tx
    .update(communityPosts)
    .set({
      reportCount: sql`${communityPosts.reportCount} + 1`,
      ...(hide
        ? {
            status: 'hidden' as const,
            moderationReason: 'report_threshold',
            moderatedBy: null,
            moderatedAt: sql`now()`,
          }
        : {}),
      ...bumpVersion(communityPosts),
    })
    .where(eq(communityPosts.id, id))
    .returning({ reportCount: communityPosts.reportCount })
  if (hide) {
    await recordAudit(tx, {
      actorId: null,
      action: 'post.moderate',
      target: target('post', id),
      ip: null,
      details: {
        before: { status: 'published' },
        after: { status: 'hidden' },
        reason: 'report_threshold',
        report_count: updated?.reportCount,
      },
    })
  }
  return { post_id: id, report_count: updated?.reportCount ?? current.reportCount + 1 }
}
