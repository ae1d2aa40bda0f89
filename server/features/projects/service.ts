import { and, eq } from 'drizzle-orm'
import type { Executor } from '../../../db/client'
import { bumpVersion, containsText } from '../../../db/query'
import { countScopes, projects } from '../../../db/schema'
import { type Actor, hasRole } from '../../http/auth'
import { assertIfMatch, type IfMatch } from '../../http/conditional'
import { listOrder, type PageRequest, readPage } from '../../http/pagination'
import { notFound, validationFailed } from '../../http/problem'
import { recordAudit, target } from '../audit/service'

export type ProjectRow = typeof projects.$inferSelect
export type ProjectSort = 'created_at' | 'updated_at' | 'name' | `-${'created_at' | 'updated_at' | 'name'}`

const noSuchProject = () => notFound('No such project.')

/** Users reach only their own projects; staff and admin reach all. Others' projects are 404. */
const reachable = (actor: Actor) =>
  hasRole(actor.role, 'staff') ? undefined : eq(projects.ownerId, actor.id)

export async function listProjects(
  db: Executor,
  actor: Actor,
  filters: { q?: string; ownerId?: string; sort?: ProjectSort },
  request: PageRequest,
) {
  if (filters.ownerId !== undefined && !hasRole(actor.role, 'staff') && filters.ownerId !== actor.id) {
    throw validationFailed([
      {
        pointer: '/query/owner_id',
        detail: 'Only staff may list other owners’ projects; leave owner_id out or pass your own id.',
      },
    ])
  }
  const where = and(
    reachable(actor),
    filters.ownerId !== undefined ? eq(projects.ownerId, filters.ownerId) : undefined,
    filters.q !== undefined ? containsText(projects.name, filters.q) : undefined,
  )
  // Without a search the list is one owner's projects or all of them: both totals are counted.
  const ownerScope = hasRole(actor.role, 'staff') ? filters.ownerId : actor.id
  const counted =
    filters.q !== undefined
      ? null
      : ownerScope !== undefined
        ? countScopes.projectsOf(ownerScope)
        : countScopes.projects
  return readPage<ProjectRow>(request, {
    db,
    select: () => db.select().from(projects).$dynamic(),
    table: projects,
    where,
    order: listOrder(
      filters.sort,
      { created_at: projects.createdAt, updated_at: projects.updatedAt, name: projects.name },
      '-created_at',
      projects.id,
    ),
    counted,
  })
}

/**
 * The hottest read of the API, `GET /projects/{id}`, is read by the statement that validates the
 * session (the route's `auth: { preload }`): whatever the caller's role, by id alone. Who may see
 * it is decided here.
 */
export function visibleProject(actor: Actor, row: ProjectRow | null): ProjectRow {
  if (!row || (row.ownerId !== actor.id && !hasRole(actor.role, 'staff'))) throw noSuchProject()
  return row
}

/**
 * A new project's row with every column decided here, the id and timestamps included, so that its
 * reply is known before it is written and `idempotency.insert` can write both in one statement.
 * The clock is this instance's (NTP-synced, as the session expiry already assumes).
 */
export function newProject(actor: Actor, input: { name: string; description?: string | null }): ProjectRow {
  const now = new Date()
  return {
    id: crypto.randomUUID(),
    ownerId: actor.id,
    name: cleanName(input.name),
    description: input.description ?? null,
    createdAt: now,
    updatedAt: now,
    version: 1,
  }
}

/** Inserts a new project outside any `Idempotency-Key` (the seed, scripts). */
export async function createProject(
  db: Executor,
  actor: Actor,
  input: { name: string; description?: string | null },
): Promise<ProjectRow> {
  const row = newProject(actor, input)
  await db.insert(projects).values(row)
  return row
}

/**
 * Renames or re-describes a project (its owner, or staff/admin). At least one field is needed.
 * With `If-Match`, the row is locked and its version checked first: a stale tag changes nothing.
 */
export async function updateProject(
  db: Executor,
  actor: Actor,
  id: string,
  input: { name?: string; description?: string | null },
  ifMatch: IfMatch = null,
): Promise<ProjectRow> {
  const changes: Partial<Pick<ProjectRow, 'name' | 'description'>> = {}
  if (input.name !== undefined) changes.name = cleanName(input.name)
  if (input.description !== undefined) changes.description = input.description
  if (Object.keys(changes).length === 0) {
    throw validationFailed([{ pointer: '/body', detail: 'Send at least one of name, description.' }])
  }
  return db.transaction(async (tx) => {
    await lockProject(tx, actor, id, ifMatch)
    const [row] = await tx
      .update(projects)
      .set({ ...changes, ...bumpVersion(projects) })
      .where(eq(projects.id, id))
      .returning()
    if (!row) throw noSuchProject()
    return row
  })
}

/** Locks a reachable project for the rest of the transaction and checks `If-Match` against it. */
async function lockProject(tx: Executor, actor: Actor, id: string, ifMatch: IfMatch): Promise<ProjectRow> {
  const [row] = await tx
    .select()
    .from(projects)
    .where(and(eq(projects.id, id), reachable(actor)))
    .for('update')
  if (!row) throw noSuchProject()
  assertIfMatch(ifMatch, row.version)
  return row
}

/** Deletes a project (its owner, or staff/admin) and audits `project.delete` in the same transaction. */
export async function deleteProject(
  db: Executor,
  actor: Actor,
  id: string,
  client: { ip: string | null },
  ifMatch: IfMatch = null,
): Promise<void> {
  await db.transaction(async (tx) => {
    const removed = await lockProject(tx, actor, id, ifMatch)
    await tx.delete(projects).where(eq(projects.id, id))
    await recordAudit(tx, {
      actorId: actor.id,
      action: 'project.delete',
      target: target('project', id),
      ip: client.ip,
      details: { before: { name: removed.name, owner_id: removed.ownerId } },
    })
  })
}

/** The schema refuses blank names; surrounding whitespace is not part of a name. */
const cleanName = (name: string) => name.trim()
