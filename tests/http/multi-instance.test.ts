import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { KEY_LOCK_CLASS } from '../../server/http/idempotency'
import { createTestDatabase, type TestDatabase } from '../support/databases'
import { eventually } from '../support/eventually'
import { type ServerProcess, startServer } from '../support/server-process'

/**
 * What only real processes on one PostgreSQL can show (CONTRACT §5, §6, §9): two instances
 * enforce one idempotency claim, one rate limit and one cron run per slot; a SIGKILLed instance
 * leaves every key with both its row and its stored response, or neither, and frees the rest.
 * Runs when TEST_DATABASE_URL names a PostgreSQL server.
 */
const enabled = Boolean(process.env.TEST_DATABASE_URL)

interface Outcome {
  status: number
  replayed: boolean
}

async function signIn(base: string, email: string, password: string): Promise<string> {
  await fetch(`${base}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  const res = await fetch(`${base}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  const body = (await res.json()) as { access_token: string }
  return body.access_token
}

function createProject(base: string, token: string, key: string, name: string) {
  return fetch(`${base}/api/v1/projects`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': key },
    body: JSON.stringify({ name }),
  })
}

if (enabled) {
  describe('two instances on one PostgreSQL', () => {
    let database: TestDatabase
    let sql: postgres.Sql
    const servers: ServerProcess[] = []
    beforeAll(async () => {
      database = await createTestDatabase('postgres')
      sql = postgres(database.url as string, { max: 2, onnotice: () => {} })
      const env = {
        DATABASE_URL: database.url as string,
        RATE_LIMIT_LOGIN: '10/86400',
        RATE_LIMIT_API: '100000/60',
        RATE_LIMIT_REGISTER: '100000/60',
        CRON_ENABLED: 'true',
        // The one job that runs every second, so that several slots pass during the suite.
        CRON_RATE_LIMIT_COUNTERS: '* * * * * *',
      }
      servers.push(await startServer(env), await startServer(env))
    }, 90_000)
    afterAll(async () => {
      for (const server of servers) await server.stop()
      await sql?.end()
      await database?.drop()
    }, 30_000)

    test('CONTRACT §5: 200 concurrent duplicate POSTs split across both instances write exactly one row, no 5xx', async () => {
      const [a, b] = servers as [ServerProcess, ServerProcess]
      const token = await signIn(a.url, 'dup@example.test', 'a long enough password')
      const outcomes: Outcome[] = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const res = await createProject((i % 2 === 0 ? a : b).url, token, 'two-instances', 'Exactly once')
          await res.arrayBuffer()
          return { status: res.status, replayed: res.headers.get('idempotent-replayed') === 'true' }
        }),
      )
      const rows = await sql`select count(*)::int as n from projects where name = 'Exactly once'`
      const created = outcomes.filter((o) => o.status === 201 && !o.replayed).length
      const replays = outcomes.filter((o) => o.replayed).length
      const conflicts = outcomes.filter((o) => o.status === 409).length
      const errors = outcomes.filter((o) => o.status >= 500).length
      console.log(
        `two instances: sent 200, rows ${rows[0]?.n}, created ${created}, replays ${replays}, 409 ${conflicts}, 5xx ${errors}`,
      )
      expect(rows[0]?.n).toBe(1)
      expect(created).toBe(1)
      expect(errors).toBe(0)
      expect(created + replays + conflicts).toBe(200)
    }, 60_000)

    test('CONTRACT §6: the login policy allows exactly its limit across both instances together', async () => {
      const [a, b] = servers as [ServerProcess, ServerProcess]
      const statuses: number[] = []
      for (let i = 0; i < 16; i++) {
        const res = await fetch(`${(i % 2 === 0 ? a : b).url}/api/v1/auth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'nobody@example.test', password: 'wrong password!' }),
        })
        statuses.push(res.status)
      }
      // The sign-in of the previous test used one of the ten.
      expect(statuses.filter((s) => s === 401)).toHaveLength(9)
      expect(statuses.filter((s) => s === 429)).toHaveLength(7)
    }, 60_000)

    test('CONTRACT §9: a cron job runs once per schedule across both instances', async () => {
      const slotsWanted = 3
      const deadline = Date.now() + 20_000
      let finished = 0
      while (Date.now() < deadline) {
        const [row] =
          await sql`select count(*)::int as n from cron_runs where job = 'rate-limit-counters' and outcome = 'success'`
        finished = row?.n ?? 0
        if (finished >= slotsWanted) break
        await Bun.sleep(250) // polling another process's table: there is no event to await
      }
      expect(finished).toBeGreaterThanOrEqual(slotsWanted)

      const count = (text: string, outcome: string) =>
        Number(
          new RegExp(
            `^cron_job_runs_total\\{job="rate-limit-counters",outcome="${outcome}"\\} (\\d+)`,
            'm',
          ).exec(text)?.[1] ?? 0,
        )
      const [before] = await sql`select count(*)::int as n from cron_runs where job = 'rate-limit-counters'`
      const scrapes = await Promise.all(
        servers.map(async (server) => (await fetch(`${server.url}/metrics`)).text()),
      )
      const [after] = await sql`select count(*)::int as n from cron_runs where job = 'rate-limit-counters'`
      const successes = scrapes.reduce((sum, text) => sum + count(text, 'success'), 0)
      const skipped = scrapes.reduce((sum, text) => sum + count(text, 'skipped'), 0)
      // Both instances fire every slot; one runs it, the other skips it. The successes of both
      // together never exceed the slots claimed (a slot claimed mid-scrape may not be counted yet).
      expect(skipped).toBeGreaterThan(0)
      expect(successes).toBeLessThanOrEqual(after?.n ?? 0)
      expect(successes).toBeGreaterThanOrEqual((before?.n ?? 0) - 2)
    }, 60_000)
  })

  describe('SIGKILL during idempotent writes', () => {
    let database: TestDatabase
    let sql: postgres.Sql
    beforeAll(async () => {
      database = await createTestDatabase('postgres')
      sql = postgres(database.url as string, { max: 2, onnotice: () => {} })
    }, 30_000)
    afterAll(async () => {
      await sql?.end()
      await database?.drop()
    })

    test('CONTRACT §5: after a crash every key has its row and stored response, or neither; the claims of the dead are released at once', async () => {
      const env = {
        DATABASE_URL: database.url as string,
        RATE_LIMIT_API: '100000/60',
        RATE_LIMIT_LOGIN: '100000/60',
        RATE_LIMIT_REGISTER: '100000/60',
      }
      const first = await startServer(env)
      const token = await signIn(first.url, 'crash@example.test', 'a long enough password')
      const keys = Array.from({ length: 120 }, (_, i) => `crash-${i}`)
      const inFlight = keys.map((key) =>
        createProject(first.url, token, key, key)
          .then((res) => res.status)
          .catch(() => 0),
      )
      // Kill it once some writes have committed, while the rest are still claimed or queued.
      for (;;) {
        const [row] = await sql`select count(*)::int as n from idempotency_keys`
        if ((row?.n ?? 0) >= 10) break
        await Bun.sleep(5) // polling another process's table: there is no event to await
      }
      first.process.kill('SIGKILL')
      await first.process.exited
      const statuses = await Promise.all(inFlight)
      // PostgreSQL ends the dead instance's transactions as it notices their sockets closed: a
      // COMMIT already sent still lands, everything else rolls back. Count once none is open.
      await eventually(async () => {
        const [open] = await sql`select count(*)::int as n from pg_stat_activity
          where datname = current_database() and application_name = 'neoforge' and xact_start is not null`
        expect(open?.n).toBe(0)
      })

      // A key row exists only with its response, written in the project's own transaction.
      const completed = await sql<{ key: string; project: boolean }[]>`
        select k.key, exists(select 1 from projects p where p.name = k.key) as project
        from idempotency_keys k`
      const orphans = await sql`select name from projects where name like 'crash-%'
        and name not in (select key from idempotency_keys)`
      // No claim (advisory lock) outlives the sessions of the dead.
      const held =
        await sql`select 1 from pg_locks where locktype = 'advisory' and classid = ${KEY_LOCK_CLASS}`
      console.log(
        `SIGKILL: ${statuses.filter((s) => s === 201).length} answered 201 before the kill, ${completed.length} keys completed, ${keys.length - completed.length} never committed, ${orphans.length} rows without a stored response, ${held.length} claims still held`,
      )
      for (const row of completed) expect(row.project).toBe(true)
      expect(orphans).toHaveLength(0)
      expect(held).toHaveLength(0)
      expect(completed.length).toBeGreaterThanOrEqual(10)
      expect(completed.length).toBeLessThan(keys.length)

      const second = await startServer(env)
      try {
        // Retrying every key at once: completed keys replay, the others run now.
        const retried = await Promise.all(
          keys.map(async (key) => {
            const res = await createProject(second.url, token, key, key)
            await res.arrayBuffer()
            return { status: res.status, replayed: res.headers.get('idempotent-replayed') === 'true' }
          }),
        )
        expect(retried.every((r) => r.status === 201)).toBe(true)
        expect(retried.filter((r) => r.replayed)).toHaveLength(completed.length)
        const [projects] = await sql`select count(*)::int as n from projects where name like 'crash-%'`
        expect(projects?.n).toBe(keys.length)
      } finally {
        await second.stop()
      }
    }, 120_000)
  })
}
