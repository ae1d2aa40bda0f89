import { t } from 'elysia'
import { type supportTickets, ticketPriorities, ticketStatuses } from '../../../db/schema'
import { pageOf, pageQuery, sortQuery } from '../../http/pagination'

/**
 * Elysia's `t.UnionEnum` carries `default: <first value>`, and Elysia fills defaults in for absent
 * optional values: without this, a ticket without `priority` would be `low`, a list without
 * `status` would show only open tickets, and a missing `sort` would become `created_at` ascending.
 */
const withoutDefault = <T extends object>(schema: T): T => ({ ...schema, default: undefined })

export namespace TicketModel {
  export const sortFields = ['created_at', 'updated_at', 'priority'] as const

  export const status = withoutDefault(
    t.UnionEnum([...ticketStatuses], {
      description:
        'open -> pending|resolved|closed; pending -> open|resolved|closed; resolved -> open|closed; closed is final.',
    }),
  )
  export const priority = withoutDefault(
    t.UnionEnum([...ticketPriorities], { description: 'Severity: low < normal < high < urgent.' }),
  )

  export const id = t.Integer({ minimum: 1 })

  export const ticket = t.Object(
    {
      id,
      email: t.String(),
      subject: t.String(),
      message: t.String(),
      status,
      priority,
      assignee_id: t.Nullable(t.String({ format: 'uuid' })),
      user_id: t.Nullable(
        t.String({ format: 'uuid', description: 'The account that opened it; null when anonymous.' }),
      ),
      created_at: t.String({ format: 'date-time' }),
      updated_at: t.String({ format: 'date-time' }),
    },
    { title: 'SupportTicket' },
  )
  export type Ticket = typeof ticket.static

  export const create = t.Object(
    {
      email: t.String({ format: 'email', maxLength: 254, description: 'Where replies go.' }),
      subject: t.String({
        minLength: 1,
        maxLength: 200,
        pattern: '\\S',
        description: '1..200 characters, not blank.',
      }),
      message: t.String({
        minLength: 1,
        maxLength: 10_000,
        pattern: '\\S',
        description: '1..10000 characters, not blank.',
      }),
      priority: t.Optional({ ...priority, description: 'Default normal.' }),
    },
    { additionalProperties: false },
  )
  export type Create = typeof create.static

  export const update = t.Object(
    {
      status: t.Optional(status),
      priority: t.Optional(priority),
      assignee_id: t.Optional(
        t.Nullable(
          t.String({ format: 'uuid', description: 'An active staff or admin user; null unassigns.' }),
        ),
      ),
    },
    { additionalProperties: false, description: 'At least one of status, priority, assignee_id.' },
  )
  export type Update = typeof update.static

  export const listQuery = t.Object(
    {
      ...pageQuery,
      status: t.Optional(status),
      priority: t.Optional(priority),
      assignee_id: t.Optional(
        t.Union([t.String({ format: 'uuid' }), t.Literal('none')], {
          description: 'A user id, or `none` for unassigned tickets.',
        }),
      ),
      q: t.Optional(
        t.String({
          minLength: 1,
          maxLength: 200,
          description: 'Case-insensitive substring of the subject or the email.',
        }),
      ),
      sort: withoutDefault(sortQuery(sortFields)),
    },
    { additionalProperties: false },
  )
  export type ListQuery = typeof listQuery.static

  export const params = t.Object({ id })
  export const page = pageOf(ticket)
}

/** The public shape of a ticket. `version` stays out of the body: it is the ETag's business. */
export function toTicketView(row: typeof supportTickets.$inferSelect): TicketModel.Ticket {
  return {
    id: row.id,
    email: row.email,
    subject: row.subject,
    message: row.message,
    status: row.status,
    priority: row.priority,
    assignee_id: row.assigneeId,
    user_id: row.userId,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  }
}
