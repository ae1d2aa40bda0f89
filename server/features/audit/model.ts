import { t } from 'elysia'
import { pageOf, pageQuery } from '../../http/pagination'
import { enumOf } from '../../http/schema'
import { auditActions } from './service'

/** An RFC 3339 instant; the strict `date-time` format of http/schema.ts refuses bare dates. */
const instant = (description: string) => t.String({ format: 'date-time', description })

/** A canonical UUID; the strict `uuid` format of http/schema.ts refuses a `urn:uuid:` prefix. */
export const uuidString = (description?: string) =>
  t.String({ format: 'uuid', ...(description ? { description } : {}) })

export namespace AuditModel {
  export const action = enumOf(auditActions, { description: `One of ${auditActions.join(', ')}.` })

  export const entry = t.Object({
    id: t.Integer(),
    at: t.String({ format: 'date-time' }),
    actor_id: t.Nullable(t.String({ format: 'uuid' })),
    action: t.String({ description: 'One of the actions of CONTRACT §8.' }),
    target: t.Nullable(t.String({ description: '`<type>:<id>`, e.g. `user:…` or `session:…`.' })),
    ip: t.Nullable(t.String()),
    details: t.Record(t.String(), t.Unknown(), {
      description: 'What changed: usually `{before: {...}, after: {...}}` plus action-specific facts.',
    }),
  })
  export type Entry = typeof entry.static

  export const listQuery = t.Object(
    {
      ...pageQuery,
      actor_id: t.Optional(uuidString('Only entries written by this user.')),
      action: t.Optional(action),
      target: t.Optional(
        t.String({ minLength: 1, maxLength: 200, description: 'Exact target, e.g. `user:<uuid>`.' }),
      ),
      since: t.Optional(instant('Only entries at or after this instant (ISO 8601 with a zone).')),
      until: t.Optional(
        instant(
          'Only entries at or before this instant (ISO 8601 with a zone; millisecond precision, like `at`).',
        ),
      ),
    },
    { additionalProperties: false },
  )
  export type ListQuery = typeof listQuery.static

  export const page = pageOf(entry)
}
