import { t } from 'elysia'
import { pageOf, pageQuery, seekQuery } from '../../http/pagination'

/**
 * `t.UnionEnum` carries `default: <first value>`, which Elysia fills in for a missing optional
 * field (an absent `?status=` would become `pending`). Every enum here clears that default.
 */
const oneOf = <const V extends string>(values: readonly [V, ...V[]], description?: string) =>
  t.UnionEnum(values as [V, ...V[]], { default: undefined, ...(description ? { description } : {}) })

export namespace CommunityModel {
  const statuses = ['pending', 'published', 'hidden', 'rejected'] as const
  export const postStatus = oneOf(
    statuses,
    'pending: awaiting review; published: public; hidden: pulled by reports or staff; rejected: refused by staff.',
  )
  /** Text that is not blank: at least one non-whitespace character. */
  const text = (maxLength: number, description?: string) =>
    t.String({ minLength: 1, maxLength, pattern: '\\S', ...(description ? { description } : {}) })
  const title = text(200)
  const content = text(20_000)

  export const post = t.Object({
    id: t.Integer({ minimum: 1 }),
    title: t.String(),
    content: t.String(),
    author_id: t.String({ format: 'uuid' }),
    author_name: t.String({
      description: 'The author’s full name, or the part of their email before the @ when they have none.',
    }),
    status: postStatus,
    report_count: t.Integer({ minimum: 0 }),
    created_at: t.String({ format: 'date-time' }),
    updated_at: t.String({ format: 'date-time' }),
  })
  export type Post = typeof post.static

  export const createPost = t.Object({ title, content }, { additionalProperties: false })

  export const updatePost = t.Object(
    {
      title: t.Optional(title),
      content: t.Optional(content),
      status: t.Optional(oneOf(statuses, 'Staff only; requires moderation_reason.')),
      moderation_reason: t.Optional(text(500, 'Required with `status` (staff only).')),
    },
    {
      additionalProperties: false,
      description:
        'The author edits `title`/`content`; staff moderate with `status` + `moderation_reason`. At least one field.',
    },
  )

  export const sortFields = ['created_at', 'updated_at', 'report_count'] as const

  export const listQuery = t.Object(
    {
      ...pageQuery,
      ...seekQuery((options) => t.Integer({ minimum: 1, maximum: 2_147_483_647, ...options })),
      q: t.Optional(
        t.String({ minLength: 1, maxLength: 200, description: 'Case-insensitive search in titles.' }),
      ),
      status: t.Optional(
        oneOf(statuses, 'Staff only (422 for anyone else). Without it staff see every status.'),
      ),
      reported: t.Optional(
        t.Boolean({
          description: 'Staff only (422 for anyone else): true = report_count > 0, false = no reports.',
        }),
      ),
      author_id: t.Optional(
        t.String({ format: 'uuid', description: 'Posts of one author (published ones only, unless staff).' }),
      ),
      sort: t.Optional(
        oneOf(
          [
            'created_at',
            '-created_at',
            'updated_at',
            '-updated_at',
            'report_count',
            '-report_count',
          ] as const,
          'One of created_at, updated_at, report_count; prefix with - for descending. Default -created_at.',
        ),
      ),
    },
    { additionalProperties: false },
  )
  export type ListQuery = typeof listQuery.static

  export const postPage = pageOf(post)
  export const postParams = t.Object({ id: t.Integer({ minimum: 1 }) })

  export const createReport = t.Object({ reason: text(500) }, { additionalProperties: false })
  export const report = t.Object({
    post_id: t.Integer({ minimum: 1 }),
    report_count: t.Integer({ minimum: 1, description: 'Reports of this post so far, this one included.' }),
  })
  export type Report = typeof report.static

  export const noContent = t.Void({ description: 'No content' })
}
