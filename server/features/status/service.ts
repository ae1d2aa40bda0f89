import { asc, desc, eq, sql } from 'drizzle-orm'
import type { Executor, Transaction } from '../../../db/client'
import { countAll } from '../../../db/client'
import { bumpVersion, prepared } from '../../../db/query'
import { type ServiceStatus, services, statusEvents } from '../../../db/schema'
import { type PageRequest, page } from '../../http/pagination'
import { notFound } from '../../http/problem'
import type { StatusModel } from './model'

/** CONTRACT §8: service statuses, worst first. The one place that orders them. */
export const STATUS_SEVERITY = [
  'major_outage',
  'partial_outage',
  'degraded',
  'maintenance',
  'operational',
] as const satisfies readonly ServiceStatus[]

/** Higher is worse: operational 0 ... major_outage 4. */
export const severityOf = (status: ServiceStatus) =>
  STATUS_SEVERITY.length - 1 - STATUS_SEVERITY.indexOf(status)

/** The worst of `statuses`; `operational` when there are none. */
export function worstStatus(statuses: Iterable<ServiceStatus>): ServiceStatus {
  let worst: ServiceStatus = 'operational'
  for (const status of statuses) if (severityOf(status) > severityOf(worst)) worst = status
  return worst
}

type EventRow = typeof statusEvents.$inferSelect
type ServiceRow = typeof services.$inferSelect

export const toEventView = (row: EventRow): StatusModel.Event => ({
  id: row.id,
  service: row.service,
  status: row.status,
  description: row.description,
  created_at: row.createdAt.toISOString(),
})

export const toServiceView = (row: ServiceRow): StatusModel.Service => ({
  service: row.service,
  status: row.status,
  since: row.since.toISOString(),
  description: row.description,
})

/** Advisory-lock class (first key) under which event writers of one service queue. */
const SERVICE_LOCK_CLASS = 0x5747 // "SW"

/**
 * Appends an event and brings the service's current status in step, in one transaction. Writers of
 * one service take turns (a transaction-scoped advisory lock on its name), so the `services` row
 * always reflects the newest event. `since` moves only when the status changes; the description
 * is always the latest event's. Runs in the caller's transaction.
 */
export async function recordEvent(
  tx: Transaction,
  actorId: string,
  input: { service: string; status: ServiceStatus; description?: string | null },
): Promise<StatusModel.Event> {
  await tx.execute(sql`select pg_advisory_xact_lock(${SERVICE_LOCK_CLASS}::int, hashtext(${input.service}))`)
  const [event] = await tx
    .insert(statusEvents)
    .values({
      service: input.service,
      status: input.status,
      description: input.description ?? null,
      createdBy: actorId,
      // Taken after the lock (not the transaction's start), at the precision the API shows.
      createdAt: sql`date_trunc('milliseconds', clock_timestamp())`,
    })
    .returning()
  if (!event) throw new Error('insert returned no row')
  await tx
    .insert(services)
    .values({
      service: event.service,
      status: event.status,
      description: event.description,
      since: event.createdAt,
      updatedAt: event.createdAt,
    })
    .onConflictDoUpdate({
      target: services.service,
      set: {
        status: sql`excluded.status`,
        description: sql`excluded.description`,
        since: sql`case when ${services.status} = excluded.status then ${services.since} else excluded.since end`,
        ...bumpVersion(services),
        updatedAt: sql`excluded.updated_at`,
      },
    })
  return toEventView(event)
}

export async function listEvents(db: Executor, filter: { service?: string }, request: PageRequest) {
  const where = filter.service !== undefined ? eq(statusEvents.service, filter.service) : undefined
  const [rows, [counted]] = await Promise.all([
    db
      .select()
      .from(statusEvents)
      .where(where)
      .orderBy(desc(statusEvents.createdAt), desc(statusEvents.id))
      .limit(request.pageSize)
      .offset(request.offset),
    db.select({ total: countAll }).from(statusEvents).where(where),
  ])
  return page(rows.map(toEventView), counted?.total ?? 0, request)
}

/** Event ids are PostgreSQL `integer`s: a larger id names no event (404), not a database error. */
const MAX_EVENT_ID = 2_147_483_647

export async function getEvent(db: Executor, id: number) {
  if (id > MAX_EVENT_ID) throw notFound('No such status event.')
  const [row] = await db.select().from(statusEvents).where(eq(statusEvents.id, id)).limit(1)
  if (!row) throw notFound('No such status event.')
  return toEventView(row)
}

/** One service's current status, and the row version behind its strong ETag. */
export async function getService(db: Executor, service: string) {
  const [row] = await db.select().from(services).where(eq(services.service, service)).limit(1)
  if (!row) throw notFound('No such service.')
  return { service: toServiceView(row), version: row.version }
}

/** The overall status is the worst service's; `reasons` names the services that set it. */
export async function getSummary(db: Executor): Promise<StatusModel.Summary> {
  const rows = await prepared(db, 'services_all', () =>
    db.select().from(services).orderBy(asc(services.service)).prepare('services_all'),
  ).execute()
  const overall = worstStatus(rows.map((row) => row.status))
  const updatedAt = rows.reduce<Date | null>(
    (latest, row) => (latest === null || row.updatedAt > latest ? row.updatedAt : latest),
    null,
  )
  return {
    status: overall,
    updated_at: updatedAt?.toISOString() ?? null,
    services: rows.map(toServiceView),
    reasons:
      overall === 'operational'
        ? []
        : rows
            .filter((row) => row.status === overall)
            .map((row) => ({ service: row.service, status: row.status, since: row.since.toISOString() })),
  }
}
