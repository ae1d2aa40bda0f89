import { t } from 'elysia'
import { pageOf, pageQuery } from '../../http/pagination'

export namespace StatusModel {
  /** Clears `t.UnionEnum`'s implicit `default` (its first value), which Elysia would fill in. */
  export const serviceStatus = t.UnionEnum(
    ['operational', 'maintenance', 'degraded', 'partial_outage', 'major_outage'],
    {
      default: undefined,
      description:
        'Severity, worst first: major_outage > partial_outage > degraded > maintenance > operational.',
    },
  )
  export const slug = t.String({
    minLength: 1,
    maxLength: 64,
    pattern: '^[a-z0-9]+(-[a-z0-9]+)*$',
    description:
      'Service slug: lower-case letters and digits in dash-separated words, e.g. `api` or `eu-db`.',
  })

  export const createEvent = t.Object(
    {
      service: slug,
      status: serviceStatus,
      description: t.Optional(t.Nullable(t.String({ maxLength: 2000 }))),
    },
    { additionalProperties: false },
  )

  export const event = t.Object({
    id: t.Integer({ minimum: 1 }),
    service: t.String(),
    status: serviceStatus,
    description: t.Nullable(t.String()),
    created_at: t.String({ format: 'date-time' }),
  })
  export type Event = typeof event.static

  export const eventsQuery = t.Object(
    { ...pageQuery, service: t.Optional(slug) },
    { additionalProperties: false },
  )
  export const eventPage = pageOf(event)
  export const eventParams = t.Object({ id: t.Integer({ minimum: 1 }) })

  export const service = t.Object({
    service: t.String(),
    status: serviceStatus,
    since: t.String({ format: 'date-time', description: 'When the service entered its current status.' }),
    description: t.Nullable(t.String({ description: 'The description of the latest event.' })),
  })
  export type Service = typeof service.static
  export const serviceParams = t.Object({ service: slug })

  export const reason = t.Object({
    service: t.String(),
    status: serviceStatus,
    since: t.String({ format: 'date-time' }),
  })

  export const summary = t.Object({
    status: serviceStatus,
    updated_at: t.Nullable(
      t.String({ format: 'date-time', description: 'Latest change of any service; null when none exist.' }),
    ),
    services: t.Array(service, { description: 'Every service, by name.' }),
    reasons: t.Array(reason, {
      description: 'The services whose status is the overall status; empty when all are operational.',
    }),
  })
  export type Summary = typeof summary.static
}
