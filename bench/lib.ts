import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import postgres from 'postgres'
import { openDatabase } from '../db/client'
import { migrate } from '../db/migrate'

/**
 * What bench/run.ts, bench/scale.ts and bench/statements.ts share: a throw-away PostgreSQL database,
 * fast SQL seeding, child servers (the app exactly as production starts it, and the bare baseline),
 * wrk, and /proc sampling. Nothing here is imported by the app or the tests.
 */

export const ROOT = new URL('../', import.meta.url).pathname
export const BENCH_DIR = new URL('./', import.meta.url).pathname

/** The server the benchmark creates its databases on (trust auth on this machine). */
export const PG_SERVER_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const APP_SECRET = 'bench-secret-that-is-long-enough-for-production-0123456789'
export const BENCH_EMAIL = 'bench@neoforge.test'
export const BENCH_PASSWORD = 'bench-password-0123'
/** The body every create workload posts (W4, W5, the baseline's bare insert). */
export const BENCH_PROJECT_BODY = JSON.stringify({ name: 'bench project', description: 'created under load' })
export const BENCH_USER_ID = '00000000-0000-4000-8000-00000000b0b0'

// ---------------------------------------------------------------------------------------------
// Database

export interface BenchDatabase {
  name: string
  url: string
  sql: postgres.Sql
  drop(): Promise<void>
}

/** A fresh database on PG_SERVER_URL, migrated with the app's own migrations; `drop` removes it. */
export async function createBenchDatabase(prefix = 'neoforge_bench'): Promise<BenchDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`
  const admin = postgres(PG_SERVER_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database "${name}"`)
  const url = new URL(PG_SERVER_URL)
  url.pathname = `/${name}`
  const handle = await openDatabase({ url: url.toString() }, { max: 2 })
  await migrate(handle)
  await handle.close()
  const sql = postgres(url.toString(), { max: 4, onnotice: () => {} })
  let dropped = false
  return {
    name,
    url: url.toString(),
    sql,
    async drop() {
      if (dropped) return
      dropped = true
      await sql.end({ timeout: 2 }).catch(() => {})
      await admin.unsafe(`drop database if exists "${name}" with (force)`)
      await admin.end({ timeout: 2 })
    },
  }
}

/** The benchmark's user (argon2id hash made the way the app makes it). */
export async function seedUser(sql: postgres.Sql, role: 'user' | 'staff' = 'user'): Promise<string> {
  const hash = await Bun.password.hash(BENCH_PASSWORD, { algorithm: 'argon2id' })
  await sql`
    insert into users (id, email, password_hash, full_name, role)
    values (${BENCH_USER_ID}, ${BENCH_EMAIL}, ${hash}, 'Bench User', ${role})`
  return BENCH_USER_ID
}

/**
 * `count` projects owned by the bench user, newest first one second apart, numbered after `from`.
 * One INSERT ... SELECT generate_series: a million rows in well under a minute.
 */
export async function seedProjects(sql: postgres.Sql, count: number, from = 0): Promise<void> {
  await sql`
    insert into projects (owner_id, name, description, created_at, updated_at)
    select ${BENCH_USER_ID}, 'project ' || g, 'A project seeded for the benchmark, number ' || g,
           timestamptz '2026-01-01' - g * interval '1 second', timestamptz '2026-01-01' - g * interval '1 second'
    from generate_series(${from + 1}::int, ${from + count}::int) g`
}

export async function seedPosts(sql: postgres.Sql, count: number, from = 0): Promise<void> {
  await sql`
    insert into community_posts (author_id, title, content, status, created_at, updated_at)
    select ${BENCH_USER_ID}, 'Post ' || g, repeat('Seeded benchmark content. ', 8) || g, 'published',
           timestamptz '2026-01-01' - g * interval '1 second', timestamptz '2026-01-01' - g * interval '1 second'
    from generate_series(${from + 1}::int, ${from + count}::int) g`
}

export async function seedStatus(sql: postgres.Sql): Promise<void> {
  const rows = [
    ['api', 'operational', null],
    ['web', 'degraded', 'Slow page loads in one region'],
    ['database', 'operational', null],
    ['email', 'maintenance', 'Provider maintenance window'],
  ] as const
  for (const [service, status, description] of rows) {
    await sql`
      insert into status_events (service, status, description, created_by)
      values (${service}, ${status}, ${description}, ${BENCH_USER_ID})`
    await sql`
      insert into services (service, status, description, since)
      values (${service}, ${status}, ${description}, now())`
  }
}

/**
 * A day's worth of other callers' stored Idempotency-Key responses. A production table is never
 * empty; an empty one, analyzed as empty, leaves PostgreSQL's cached generic plan for the key
 * lookup a sequential scan until autovacuum next analyzes it, which W4 would fill in seconds.
 */
export async function seedIdempotencyKeys(sql: postgres.Sql, count: number): Promise<void> {
  await sql`
    insert into idempotency_keys (scope, method, path, key, fingerprint, response_status, response_headers, response_body, expires_at)
    select 'user:' || gen_random_uuid(), 'POST', '/api/v1/projects', 'seeded-' || g, md5(g::text), 201,
           '{"content-type":"application/json; charset=utf-8"}', '{}', now() + interval '1 day'
    from generate_series(1, ${count}::int) g`
}

/**
 * The usual seed of bench/run.ts: a user, 1,000 projects, 1,000 published posts, 4 services,
 * 10,000 stored idempotency keys of other callers.
 */
export async function seedStandard(sql: postgres.Sql): Promise<{ projectId: string }> {
  await seedUser(sql)
  await seedProjects(sql, 1000)
  await seedPosts(sql, 1000)
  await seedStatus(sql)
  await seedIdempotencyKeys(sql, 10_000)
  await sql`vacuum analyze`
  const [row] = await sql<{ id: string }[]>`select id from projects order by created_at desc limit 1`
  if (!row) throw new Error('seeding left no project')
  return { projectId: row.id }
}

// ---------------------------------------------------------------------------------------------
// Child servers

export interface ChildServer {
  name: string
  url: string
  pid: number
  process: Subprocess
  output(): string
  stop(): Promise<void>
}

export async function freePort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port as number
  probe.stop(true)
  return port
}

/**
 * Spawns `bun <entry>` and waits until `readyPath` answers 200. Output is kept (the last 64 KiB)
 * for the error message if it dies.
 */
export async function startChild(
  name: string,
  args: string[],
  env: Record<string, string>,
  readyPath: string,
): Promise<ChildServer> {
  const port = await freePort()
  let output = ''
  const child = Bun.spawn(['bun', ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      PORT: String(port),
      HOST: '127.0.0.1',
      ...env,
    },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    for await (const chunk of stream) output = (output + decoder.decode(chunk)).slice(-65_536)
  }
  void collect(child.stdout as ReadableStream<Uint8Array>)
  void collect(child.stderr as ReadableStream<Uint8Array>)
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output}`)
    try {
      if ((await fetch(`${url}${readyPath}`)).status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${name} not ready within 60 s:\n${output}`)
    }
    await Bun.sleep(100)
  }
  return {
    name,
    url,
    pid: child.pid,
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 12_000)
      await child.exited
      clearTimeout(timer)
    },
  }
}

/** The app as production runs it: every plugin on, rate limits raised so nothing is refused. */
export function startApp(databaseUrl: string, extraEnv: Record<string, string> = {}, bunArgs: string[] = []) {
  return startChild(
    'app',
    [...bunArgs, 'server/index.ts'],
    {
      NODE_ENV: 'production',
      APP_SECRET,
      DATABASE_URL: databaseUrl,
      RATE_LIMIT_API: '100000000/60',
      RATE_LIMIT_LOGIN: '1000/60',
      LOG_LEVEL: 'warn',
      ...extraEnv,
    },
    '/ready',
  )
}

export function startBaseline(databaseUrl: string) {
  return startChild(
    'baseline',
    ['bench/baseline.ts'],
    { DATABASE_URL: databaseUrl, APP_SECRET, NODE_ENV: 'production' },
    '/ready',
  )
}

/** A bearer access token for the bench user (a new session each call). */
export async function login(appUrl: string): Promise<string> {
  const res = await fetch(`${appUrl}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: BENCH_EMAIL, password: BENCH_PASSWORD }),
  })
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { access_token: string }).access_token
}

// ---------------------------------------------------------------------------------------------
// wrk

export function requireWrk(): string {
  const found = Bun.which('wrk')
  if (!found) {
    console.error(
      'bench: wrk is not installed. On Debian/Ubuntu: `apt-get install -y wrk` (it is a Debian package; no other download is needed).',
    )
    process.exit(2)
  }
  return found
}

export interface WrkResult {
  requests: number
  seconds: number
  rps: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  maxMs: number
  /** Non-2xx/3xx responses, plus connect/read/write/timeout errors. */
  errors: { status: number; connect: number; read: number; write: number; timeout: number }
}

/**
 * One wrk run: one client thread, `connections` connections, latency percentiles from wrk's own
 * histogram, reported by bench/wrk/common.lua's done() as one JSON line.
 */
export async function runWrk(options: {
  url: string
  script: string
  seconds: number
  connections?: number
  env?: Record<string, string>
}): Promise<WrkResult> {
  const proc = Bun.spawn(
    [
      'wrk',
      '-t1',
      `-c${options.connections ?? 64}`,
      `-d${options.seconds}s`,
      '--timeout',
      '10s',
      '--latency',
      '-s',
      join(BENCH_DIR, 'wrk', options.script),
      options.url,
    ],
    {
      env: { ...process.env, BENCH_WRK_DIR: join(BENCH_DIR, 'wrk'), ...(options.env ?? {}) },
      stdout: 'pipe',
      stderr: 'pipe',
    },
  )
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()])
  await proc.exited
  const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '))
  if (!line) throw new Error(`wrk gave no result (exit ${proc.exitCode}):\n${out}\n${err}`)
  const r = JSON.parse(line.slice('BENCH_RESULT '.length)) as {
    requests: number
    duration_us: number
    p50: number
    p90: number
    p99: number
    max: number
    errors: WrkResult['errors']
  }
  const seconds = r.duration_us / 1e6
  return {
    requests: r.requests,
    seconds,
    rps: r.requests / seconds,
    p50Ms: r.p50 / 1000,
    p90Ms: r.p90 / 1000,
    p99Ms: r.p99 / 1000,
    maxMs: r.max / 1000,
    errors: r.errors,
  }
}

// ---------------------------------------------------------------------------------------------
// /proc sampling

/** Resident set size of `pid` in MiB, from /proc/<pid>/status VmRSS. */
export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? 0)
    return kb / 1024
  } catch {
    return 0
  }
}

/** utime + stime of `pid`, in seconds (clock ticks are 100 Hz on Linux). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

/** Samples RSS every `everyMs` until stopped; returns the max seen. */
export function sampleRss(pid: number, everyMs = 200) {
  let max = rssMiB(pid)
  const timer = setInterval(() => {
    max = Math.max(max, rssMiB(pid))
  }, everyMs)
  return {
    stop() {
      clearInterval(timer)
      return Math.max(max, rssMiB(pid))
    },
  }
}

/** Load average and core count, printed with every result: absolute numbers depend on them. */
export function machineLoad(): string {
  const load = existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3) : []
  return `load average ${load.join(' ')} on ${navigator.hardwareConcurrency} cores`
}

export const round = (value: number, digits = 0) => {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Runs `fn` and always runs the cleanups (in reverse), also on Ctrl-C. */
export async function withCleanup<T>(fn: (defer: (cleanup: () => Promise<unknown>) => void) => Promise<T>) {
  const cleanups: (() => Promise<unknown>)[] = []
  const runAll = async () => {
    while (cleanups.length) {
      const cleanup = cleanups.pop() as () => Promise<unknown>
      await cleanup().catch((error: unknown) => console.error('cleanup failed:', error))
    }
  }
  const onSignal = () => {
    console.error('\ninterrupted: cleaning up')
    void runAll().then(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    return await fn((cleanup) => cleanups.push(cleanup))
  } finally {
    await runAll()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

// ---------------------------------------------------------------------------------------------
// What the database backends of one client are doing

/**
 * Samples pg_stat_activity every `everyMs` for the backends of `applicationName` in `database`:
 * for the ones executing a statement, what they wait on (`Lock:transactionid` is a row lock held
 * by another transaction, `IO:WALSync` a commit's flush, `CPU` no wait). `stop()` returns each
 * wait's share of the active backend samples and the mean number of active backends.
 */
export function sampleWaits(sql: postgres.Sql, database: string, applicationName: string, everyMs = 100) {
  const counts = new Map<string, number>()
  let active = 0
  let samples = 0
  let running = true
  const loop = (async () => {
    while (running) {
      const rows = await sql<{ wait: string }[]>`
        select coalesce(wait_event_type || ':' || wait_event, 'CPU') as wait
        from pg_stat_activity
        where datname = ${database} and application_name = ${applicationName} and state = 'active'`.catch(
        () => [] as { wait: string }[],
      )
      samples += 1
      for (const { wait } of rows) {
        active += 1
        counts.set(wait, (counts.get(wait) ?? 0) + 1)
      }
      await Bun.sleep(everyMs)
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      const shares = [...counts.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([wait, n]) => ({ wait, share: n / Math.max(1, active) }))
      return { meanActive: active / Math.max(1, samples), shares }
    },
  }
}

export const formatWaits = (waits: { meanActive: number; shares: { wait: string; share: number }[] }) =>
  `${round(waits.meanActive, 1)} active: ${waits.shares
    .slice(0, 4)
    .map(({ wait, share }) => `${wait} ${round(share * 100)}%`)
    .join(', ')}`
