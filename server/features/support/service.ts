import { and, asc, desc, eq, isNull, or, type SQL, sql } from 'drizzle-orm'
import type { Executor } from '../../../db/client'
import { countAll } from '../../../db/client'
import { bumpVersion, containsText } from '../../../db/query'
import { supportTickets, type TicketPriority, type TicketStatus, ticketPriorities } from '../../../db/schema'
import { type Actor, hasRole } from '../../http/auth'
import { assertIfMatch, type IfMatch } from '../../http/conditional'
import { orderBy, type PageRequest, page } from '../../http/pagination'
import { forbidden, HttpError, notFound, validationFailed } from '../../http/problem'
import { recordAudit, target } from '../audit/service'
import { findUserById } from '../users/service'

export type TicketRow = typeof supportTickets.$inferSelect
type SortField = 'created_at' | 'updated_at' | 'priority'
export type TicketSort = SortField | `-${SortField}`

/**
 * CONTRACT §8: the ticket status machine, the one place it is written down. A status may move
 * only to the statuses listed for it; anything else (staying put included) is 409
 * `invalid_transition`. `closed` is final.
 */
export const TICKET_TRANSITIONS: Readonly<Record<TicketStatus, readonly TicketStatus[]>> = Object.freeze({
  open: ['pending', 'resolved', 'closed'],
  pending: ['open', 'resolved', 'closed'],
  resolved: ['open', 'closed'],
  closed: [],
})

export const canTransition = (from: TicketStatus, to: TicketStatus) => TICKET_TRANSITIONS[from].includes(to)

const noSuchTicket = () => notFound('No such ticket.')
/** Ticket ids are PostgreSQL `integer`s: a larger id is well-formed but names no ticket (404, not a 500). */
const MAX_TICKET_ID = 2_147_483_647
const isStaff = (actor: Actor) => hasRole(actor.role, 'staff')

/** Staff reach every ticket; a user reaches the tickets they opened while signed in. */
const reachable = (actor: Actor) => (isStaff(actor) ? undefined : eq(supportTickets.userId, actor.id))

/** Priority by severity (low < normal < high < urgent), not alphabetically. */
const severity: SQL = sql`case ${supportTickets.priority} ${sql.join(
  ticketPriorities.map((value, rank) => sql`when ${sql.raw(`'${value}'`)} then ${sql.raw(String(rank))}`),
  sql` `,
)} end`

function ticketOrder(sort: TicketSort | undefined): SQL[] {
  if (sort === 'priority' || sort === '-priority') {
    const direction = sort === 'priority' ? asc : desc
    return [direction(severity), direction(supportTickets.id)]
  }
  return orderBy(
    sort,
    { created_at: supportTickets.createdAt, updated_at: supportTickets.updatedAt },
    '-created_at',
    supportTickets.id,
  )
}

/** Opens a ticket, linked to the caller's account when there is one. */
export async function createTicket(
  db: Executor,
  actor: Actor | null,
  input: { email: string; subject: string; message: string; priority?: TicketPriority },
): Promise<TicketRow> {
  const [row] = await db
    .insert(supportTickets)
    .values({
      email: input.email.trim(),
      subject: input.subject.trim(),
      message: input.message,
      priority: input.priority ?? 'normal',
      userId: actor?.id ?? null,
    })
    .returning()
  if (!row) throw new Error('insert returned no row')
  return row
}

export interface TicketFilters {
  status?: TicketStatus
  priority?: TicketPriority
  /** A user id, or `none` for unassigned tickets. */
  assigneeId?: string
  q?: string
  sort?: TicketSort
}

export async function listTickets(db: Executor, actor: Actor, filters: TicketFilters, request: PageRequest) {
  const where = and(
    reachable(actor),
    filters.status !== undefined ? eq(supportTickets.status, filters.status) : undefined,
    filters.priority !== undefined ? eq(supportTickets.priority, filters.priority) : undefined,
    filters.assigneeId === undefined
      ? undefined
      : filters.assigneeId === 'none'
        ? isNull(supportTickets.assigneeId)
        : eq(supportTickets.assigneeId, filters.assigneeId),
    filters.q !== undefined
      ? or(containsText(supportTickets.subject, filters.q), containsText(supportTickets.email, filters.q))
      : undefined,
  )
  const [rows, [counted]] = await Promise.all([
    db
      .select()
      .from(supportTickets)
      .where(where)
      .orderBy(...ticketOrder(filters.sort))
      .limit(request.pageSize)
      .offset(request.offset),
    db.select({ total: countAll }).from(supportTickets).where(where),
  ])
  return page(rows, counted?.total ?? 0, request)
}

export async function getTicket(db: Executor, actor: Actor, id: number): Promise<TicketRow> {
  if (id > MAX_TICKET_ID) throw noSuchTicket()
  const [row] = await db
    .select()
    .from(supportTickets)
    .where(and(eq(supportTickets.id, id), reachable(actor)))
    .limit(1)
  if (!row) throw noSuchTicket()
  return row
}

export interface TicketChanges {
  status?: TicketStatus
  priority?: TicketPriority
  /** An active staff or admin user, or null to unassign. */
  assigneeId?: string | null
}

type AuditedField = 'status' | 'priority' | 'assignee_id'

/**
 * Triage (staff only): status along {@link TICKET_TRANSITIONS}, priority, assignee. The owner of
 * the ticket is refused (403, they can see it); anyone else gets 404. The change and its
 * `ticket.update` audit row are one transaction; a refused change writes nothing. A change that
 * changes nothing (same priority, same assignee) answers the ticket as it is and audits nothing.
 */
export async function updateTicket(
  db: Executor,
  actor: Actor,
  id: number,
  input: TicketChanges,
  client: { ip: string | null },
  ifMatch: IfMatch = null,
): Promise<TicketRow> {
  if (input.status === undefined && input.priority === undefined && input.assigneeId === undefined) {
    throw validationFailed([
      { pointer: '/body', detail: 'Send at least one of status, priority, assignee_id.' },
    ])
  }
  if (id > MAX_TICKET_ID) throw noSuchTicket()
  return db.transaction(async (tx) => {
    const [current] = await tx.select().from(supportTickets).where(eq(supportTickets.id, id)).for('update')
    if (!current) throw noSuchTicket()
    if (!isStaff(actor)) {
      if (current.userId === actor.id) {
        throw forbidden('Only staff can change a ticket; its owner may read it but not change it.')
      }
      throw noSuchTicket()
    }
    assertIfMatch(ifMatch, current.version)

    if (input.assigneeId !== undefined && input.assigneeId !== null) {
      const assignee = await findUserById(tx, input.assigneeId)
      if (!assignee?.isActive || !hasRole(assignee.role, 'staff')) {
        throw validationFailed([
          { pointer: '/body/assignee_id', detail: 'The assignee must be an active staff or admin user.' },
        ])
      }
    }
    if (input.status !== undefined && !canTransition(current.status, input.status)) {
      throw invalidTransition(current.status, input.status)
    }

    const before: Partial<Record<AuditedField, string | null>> = {}
    const after: Partial<Record<AuditedField, string | null>> = {}
    const changes: Partial<Pick<TicketRow, 'status' | 'priority' | 'assigneeId'>> = {}
    if (input.status !== undefined) {
      // canTransition already refused staying put, so a status here is always a change.
      changes.status = input.status
      before.status = current.status
      after.status = input.status
    }
    if (input.priority !== undefined && input.priority !== current.priority) {
      changes.priority = input.priority
      before.priority = current.priority
      after.priority = input.priority
    }
    if (input.assigneeId !== undefined && input.assigneeId !== current.assigneeId) {
      changes.assigneeId = input.assigneeId
      before.assignee_id = current.assigneeId
      after.assignee_id = input.assigneeId
    }
    if (Object.keys(changes).length === 0) return current

    const [updated] = await tx
      .update(supportTickets)
      .set({ ...changes, ...bumpVersion(supportTickets) })
      .where(eq(supportTickets.id, id))
      .returning()
    if (!updated) throw noSuchTicket()
    await recordAudit(tx, {
      actorId: actor.id,
      action: 'ticket.update',
      target: target('ticket', id),
      ip: client.ip,
      details: { before, after },
    })
    return updated
  })
}

function invalidTransition(from: TicketStatus, to: TicketStatus): HttpError {
  const allowed = TICKET_TRANSITIONS[from]
  const detail = `A ticket cannot go from ${from} to ${to}; ${
    allowed.length === 0
      ? `${from} is final (no transitions)`
      : `from ${from} it may go to ${allowed.join(', ')}`
  }.`
  return new HttpError(409, 'invalid_transition', detail, {
    extensions: { from, to, allowed: [...allowed] },
  })
}
