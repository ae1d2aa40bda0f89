import { cron } from '@elysiajs/cron'
import { sql } from 'drizzle-orm'
import { Elysia } from 'elysia'
import type { DatabaseHandle } from '../../db/client'
import type { SessionLucia } from '../features/auth/sessions'
import { pruneCspReports } from '../features/security/service'
import type { MetricsRegistry } from '../http/metrics'
import type { RateLimitStore } from '../http/rate-limit'
import { errorFields, type Logger } from '../log'

/**
 * CONTRACT §9 cron: housekeeping that must happen once per schedule across every instance.
 * Each run first claims its slot (job, scheduled minute or second) in `cron_runs`, whose primary
 * key lets exactly one instance win, and runs under a per-job advisory lock so a slow run is
 * never overlapped by the next. Outcomes: success, failure, skipped (another instance has it).
 */
export const cleanupJobNames = ['idempotency-keys', 'sessions', 'rate-limit-counters', 'csp-reports'] as const
export type CleanupJobName = (typeof cleanupJobNames)[number]

export const defaultSchedules: Record<CleanupJobName, string> = {
  'idempotency-keys': '0 * * * *', // hourly
  sessions: '30 3 * * *', // daily at 03:30
  'rate-limit-counters': '*/10 * * * *', // every 10 minutes
  'csp-reports': '15 * * * *', // hourly
}

export type JobOutcome = 'success' | 'failure' | 'skipped'

export interface CleanupDeps {
  database: DatabaseHandle
  registry: MetricsRegistry
  logger: Logger
  lucia: SessionLucia
  rateLimitStore: RateLimitStore
  schedules: Record<CleanupJobName, string>
}

/** A stable advisory-lock key per job name. */
const lockKeyOf = (job: string) => BigInt(Bun.hash.cityHash64(`neoforge:cron:${job}`)) & 0x7fffffffffffffffn

/** The scheduled slot a firing belongs to: its second for 6-field patterns, else its minute. */
export function slotOf(pattern: string, at: Date): Date {
  const granularityMs = pattern.trim().split(/\s+/).length === 6 ? 1000 : 60_000
  return new Date(Math.floor(at.getTime() / granularityMs) * granularityMs)
}

export function createCleanupJobs(deps: CleanupDeps) {
  const { database, logger } = deps
  const runs = deps.registry.counter('cron_job_runs_total', 'Cron job runs, by job and outcome.', [
    'job',
    'outcome',
  ])
  for (const job of cleanupJobNames) {
    for (const outcome of ['success', 'failure', 'skipped'] as const) runs.init({ job, outcome })
  }

  const work: Record<CleanupJobName, () => Promise<Record<string, unknown>>> = {
    async 'idempotency-keys'() {
      const rows = await database.rows(sql`delete from idempotency_keys where expires_at < now() returning 1`)
      return { deleted: rows.length }
    },
    async sessions() {
      // lucia's adapter deletes expired sessions and those revoked more than 30 days ago.
      await deps.lucia.deleteExpiredSessions()
      return {}
    },
    async 'rate-limit-counters'() {
      return { deleted: await deps.rateLimitStore.prune() }
    },
    async 'csp-reports'() {
      return { deleted: await pruneCspReports(database.db) }
    },
  }

  /** Runs `job` for the slot `at` falls in, unless another instance already has that slot. */
  async function run(job: CleanupJobName, at: Date = new Date()): Promise<JobOutcome> {
    const slot = slotOf(deps.schedules[job], at)
    const outcome = await database.withAdvisoryLock(
      lockKeyOf(job),
      async (): Promise<JobOutcome> => {
        const claimed = await database.rows(sql`
          insert into cron_runs (job, slot) values (${job}, ${slot.toISOString()}::timestamptz)
          on conflict do nothing returning job`)
        if (claimed.length === 0) return 'skipped'
        try {
          const detail = await work[job]()
          await database.rows(sql`
            update cron_runs set finished_at = now(), outcome = 'success', detail = ${JSON.stringify(detail)}::jsonb
            where job = ${job} and slot = ${slot.toISOString()}::timestamptz returning 1`)
          logger.info('cron job finished', { job, slot: slot.toISOString(), ...detail })
          return 'success'
        } catch (error) {
          logger.error('cron job failed', { job, slot: slot.toISOString(), ...errorFields(error) })
          await database.rows(sql`
            update cron_runs set finished_at = now(), outcome = 'failure'
            where job = ${job} and slot = ${slot.toISOString()}::timestamptz returning 1`)
          return 'failure'
        }
      },
      { wait: false },
    )
    const result = outcome ?? 'skipped'
    runs.inc({ job, outcome: result })
    return result
  }

  /** The @elysiajs/cron schedules; only the entry point mounts them (tests call `run`). */
  function plugin() {
    let app = new Elysia({ name: 'cleanup-jobs' })
    for (const job of cleanupJobNames) {
      app = app.use(
        cron({ name: job, pattern: deps.schedules[job], protect: true, run: () => run(job) }),
      ) as never
    }
    // A stopped app must not fire jobs against a database that is about to close.
    return app.onStop(() => {
      for (const schedule of Object.values(
        (app.store as { cron?: Record<string, { stop(): void }> }).cron ?? {},
      )) {
        schedule.stop()
      }
    })
  }

  return { run, plugin }
}
