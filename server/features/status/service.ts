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

/**
 * The `services` rows behind the public status reads (`GET /status`, `/status/services/{service}`),
 * one copy per instance kept for `ttlMs`. The status page is what every client reloads during an
 * incident, and its responses already let any cache keep them 15 s (CONTRACT §4): this instance
 * reads the table at most once per `ttlMs` however many ask, and concurrent misses share that read.
 * A write through this instance drops the copy at once (`invalidate`, after its commit); writes
 * through other instances show within `ttlMs`. `ttlMs` 0 reads on every request.
 */
export function serviceRows(db: Executor, ttlMs: number) {
  const read = () =>
    prepared(db, 'services_all', () =>
      db.select().from(services).orderBy(asc(services.service)).prepare('services_all'),
    ).execute()
  let copy: { rows: ServiceRow[]; until: number } | null = null
  let reading: Promise<ServiceRow[]> | null = null
  // A read that began before an invalidation may have seen the old rows: it must not be kept.
  let generation = 0
  return {
    current(): ServiceRow[] | Promise<ServiceRow[]> {
      if (ttlMs === 0) return read()
      if (copy && performance.now() < copy.until) return copy.rows
      if (reading) return reading
      const started = generation
      const pending = read().then(
        (rows) => {
          if (generation === started) copy = { rows, until: performance.now() + ttlMs }
          if (reading === pending) reading = null
          return rows
        },
        (error: unknown) => {
          if (reading === pending) reading = null
          throw error
        },
      )
      reading = pending
      return pending
    },
    invalidate() {
      generation += 1
      copy = null
      reading = null
    },
  }
}

export type ServiceRows = ReturnType<typeof serviceRows>

/** One service's current status, and the row version behind its strong ETag. */
export function serviceOf(rows: ServiceRow[], service: string) {
  const row = rows.find((candidate) => candidate.service === service)
  if (!row) throw notFound('No such service.')
  return { service: toServiceView(row), version: row.version }
}

const summaries = new WeakMap<ServiceRow[], StatusModel.Summary>()

/**
 * The overall status is the worst service's; `reasons` names the services that set it. Worked out
 * once per read of the rows (a kept copy is the same array).
 */
export function summaryOf(rows: ServiceRow[]): StatusModel.Summary {
  const known = summaries.get(rows)
  if (known) return known
  const summary = summarize(rows)
  summaries.set(rows, summary)
  return summary
}

function summarize(rows: ServiceRow[]): StatusModel.Summary {
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
