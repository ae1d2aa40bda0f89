import { writeFileSync } from 'node:fs'
import {
  BENCH_PROJECT_BODY,
  type BenchDatabase,
  type ChildServer,
  cpuSeconds,
  createBenchDatabase,
  formatWaits,
  freePort,
  login,
  machineLoad,
  requireWrk,
  round,
  runWrk,
  sampleRss,
  sampleWaits,
  seedStandard,
  startApp,
  startBaseline,
  type WrkResult,
  withCleanup,
} from './lib'

/**
 * `bun bench/run.ts [--quick] [--only=W1,W3] [--experiments] [--out=FILE]` (issue 7).
 *
 * A fresh PostgreSQL database (migrated, seeded with SQL, dropped at the end), the app started as
 * production starts it (`bun server/index.ts`, NODE_ENV=production, every plugin on, the api rate
 * limit raised so no request is refused while its cost is paid), the bare baseline of
 * bench/baseline.ts beside it, then for each workload a warm-up and a measured run of wrk with 64
 * connections from one client thread. Each app workload is followed at once by its baseline
 * counterpart, so that both see the same machine load. At the end W1 runs again: the "sag" check
 * (postgres-js 3.4.9's pool queue grows while the pool stays saturated), with the baseline's W1
 * again as the control.
 *
 * Besides req/s and wrk's p50/p99 it reports, per workload, the server's CPU time per request
 * (from /proc/<pid>/stat; much steadier than req/s on a shared machine) and the app's peak RSS
 * (/proc/<pid>/status VmRSS, sampled every 200 ms).
 */

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const only = args
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',')
  .map((id) => id.trim().toUpperCase())
const outFile = args.find((arg) => arg.startsWith('--out='))?.slice('--out='.length)
/**
 * `--experiments`: after the workloads, W1 and W6 against app instances configured (not changed)
 * to show what a fix of the rate-limit store would gain: X1 keeps rate-limit counters in Redis
 * (REDIS_URL, a redis-server started for the run), X2 turns off the commit flush for the app's
 * connections (synchronous_commit=off as a connection parameter); X3 is the baseline's W1 with its
 * statements unprepared (a parse and two round trips each, as drizzle sends unnamed queries).
 */
const experiments = args.includes('--experiments')
const WARMUP_S = quick ? 3 : 5
const RUN_S = quick ? 5 : 15
const CONNECTIONS = 64

requireWrk()

interface Context {
  database: BenchDatabase
  app: ChildServer
  baseline: ChildServer
  token: string
  projectId: string
  runId: string
}

interface Target {
  /** The baseline workload the ratio divides by. */
  of: string
  min: number
}

interface Workload {
  id: string
  title: string
  /** What the request is, for the table. */
  request: string
  script: 'fixed.lua' | 'fresh-key.lua'
  url(ctx: Context): string
  env(ctx: Context, phase: string): Record<string, string>
  /** One request before the load, to prove it answers what the workload means to measure. */
  probe?(ctx: Context): Promise<void>
  baseline?: { id: string; url(ctx: Context): string; env(ctx: Context): Record<string, string> }
  target?: Target
  /**
   * The same workload against a second app instance started with `env`, measured next: what a
   * setting the workload depends on is worth (its ratio is to the same baseline, with no target).
   */
  variant?: { id: string; note: string; env: Record<string, string> }
}

const bearer = (ctx: Context) => ({ BENCH_TOKEN: ctx.token })

async function expectStatus(
  label: string,
  response: Promise<Response>,
  status: number,
  check?: (res: Response) => string | null,
): Promise<void> {
  const res = await response
  const body = await res.text()
  if (res.status !== status)
    throw new Error(`${label}: expected ${status}, got ${res.status}: ${body.slice(0, 300)}`)
  const problem = check?.(res)
  if (problem) throw new Error(`${label}: ${problem}`)
}

const workloads: Workload[] = [
  {
    id: 'W1',
    title: 'GET /projects/{id}',
    request: 'bearer token',
    script: 'fixed.lua',
    url: (ctx) => `${ctx.app.url}/api/v1/projects/${ctx.projectId}`,
    env: bearer,
    probe: (ctx) =>
      expectStatus(
        'W1',
        fetch(`${ctx.app.url}/api/v1/projects/${ctx.projectId}`, {
          headers: { authorization: `Bearer ${ctx.token}` },
        }),
        200,
        (res) => (res.headers.get('etag') === '"v1"' ? null : `etag ${res.headers.get('etag')}`),
      ),
    baseline: { id: 'base W1', url: (ctx) => `${ctx.baseline.url}/w1/${ctx.projectId}`, env: bearer },
    target: { of: 'base W1', min: 0.6 },
  },
  {
    id: 'W2',
    title: 'GET /projects?page=1&page_size=20',
    request: 'bearer token, list + count',
    script: 'fixed.lua',
    url: (ctx) => `${ctx.app.url}/api/v1/projects?page=1&page_size=20`,
    env: bearer,
    probe: (ctx) =>
      expectStatus(
        'W2',
        fetch(`${ctx.app.url}/api/v1/projects?page=1&page_size=20`, {
          headers: { authorization: `Bearer ${ctx.token}` },
        }),
        200,
      ),
    baseline: { id: 'base W2', url: (ctx) => `${ctx.baseline.url}/w2`, env: bearer },
  },
  {
    id: 'W3',
    title: 'GET /projects/{id} + If-None-Match',
    request: 'bearer token, matching ETag -> 304',
    script: 'fixed.lua',
    url: (ctx) => `${ctx.app.url}/api/v1/projects/${ctx.projectId}`,
    env: (ctx) => ({ ...bearer(ctx), BENCH_IF_NONE_MATCH: '"v1"' }),
    probe: (ctx) =>
      expectStatus(
        'W3',
        fetch(`${ctx.app.url}/api/v1/projects/${ctx.projectId}`, {
          headers: { authorization: `Bearer ${ctx.token}`, 'if-none-match': '"v1"' },
        }),
        304,
      ),
    target: { of: 'base W1', min: 0.8 },
  },
  {
    id: 'W4',
    title: 'POST /projects, fresh Idempotency-Key',
    request: 'bearer token, new key each request -> 201',
    script: 'fresh-key.lua',
    url: (ctx) => `${ctx.app.url}/api/v1/projects`,
    env: (ctx, phase) => ({
      ...bearer(ctx),
      BENCH_METHOD: 'POST',
      BENCH_BODY: BENCH_PROJECT_BODY,
      BENCH_KEY_PREFIX: `${ctx.runId}-${phase}`,
    }),
    probe: (ctx) =>
      expectStatus(
        'W4',
        fetch(`${ctx.app.url}/api/v1/projects`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${ctx.token}`,
            'content-type': 'application/json',
            'idempotency-key': `${ctx.runId}-probe-w4`,
          },
          body: BENCH_PROJECT_BODY,
        }),
        201,
      ),
    baseline: {
      id: 'base insert',
      url: (ctx) => `${ctx.baseline.url}/insert`,
      env: () => ({ BENCH_METHOD: 'POST', BENCH_BODY: BENCH_PROJECT_BODY }),
    },
    target: { of: 'base insert', min: 0.5 },
  },
  {
    id: 'W5',
    title: 'POST /projects, same key replayed',
    request: 'bearer token, stored response -> 201 + Idempotent-Replayed',
    script: 'fixed.lua',
    url: (ctx) => `${ctx.app.url}/api/v1/projects`,
    env: (ctx) => ({
      ...bearer(ctx),
      BENCH_METHOD: 'POST',
      BENCH_BODY: BENCH_PROJECT_BODY,
      BENCH_IDEMPOTENCY_KEY: `${ctx.runId}-replayed`,
    }),
    async probe(ctx) {
      const send = () =>
        fetch(`${ctx.app.url}/api/v1/projects`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${ctx.token}`,
            'content-type': 'application/json',
            'idempotency-key': `${ctx.runId}-replayed`,
          },
          body: BENCH_PROJECT_BODY,
        })
      await expectStatus('W5 first use', send(), 201)
      await expectStatus('W5 replay', send(), 201, (res) =>
        res.headers.get('idempotent-replayed') === 'true' ? null : 'no Idempotent-Replayed: true',
      )
    },
  },
  {
    id: 'W6',
    title: 'GET /status',
    request: 'anonymous, public',
    script: 'fixed.lua',
    url: (ctx) => `${ctx.app.url}/api/v1/status`,
    env: () => ({}),
    probe: (ctx) => expectStatus('W6', fetch(`${ctx.app.url}/api/v1/status`), 200),
    baseline: { id: 'base W6', url: (ctx) => `${ctx.baseline.url}/w6`, env: () => ({}) },
    target: { of: 'base W6', min: 0.8 },
    // The app keeps the service statuses 1 s per instance; the baseline reads them every time.
    variant: {
      id: 'W6 uncached',
      note: 'STATUS_CACHE_MS=0: the same read as the baseline on every request',
      env: { STATUS_CACHE_MS: '0' },
    },
  },
  {
    id: 'W7',
    title: 'GET /community/posts',
    request: 'anonymous, list + count',
    script: 'fixed.lua',
    url: (ctx) => `${ctx.app.url}/api/v1/community/posts`,
    env: () => ({}),
    probe: (ctx) => expectStatus('W7', fetch(`${ctx.app.url}/api/v1/community/posts`), 200),
    baseline: { id: 'base W7', url: (ctx) => `${ctx.baseline.url}/w7`, env: () => ({}) },
  },
]

interface Measured {
  id: string
  title: string
  request: string
  result: WrkResult
  cpuUsPerRequest: number
  rssMaxMiB: number | null
  waits: string
  /** For rows that are not workloads (experiments): the baseline row their ratio divides by. */
  ratioOf?: string
}

async function measure(
  ctx: Context,
  server: ChildServer,
  label: string,
  run: { url: string; script: string; env: (phase: string) => Record<string, string> },
  options: { sampleRss: boolean },
): Promise<{ result: WrkResult; cpuUsPerRequest: number; rssMaxMiB: number | null; waits: string }> {
  process.stdout.write(`  ${label.padEnd(12)} warm-up ${WARMUP_S} s ... `)
  await runWrk({
    url: run.url,
    script: run.script,
    seconds: WARMUP_S,
    connections: CONNECTIONS,
    env: run.env('warm'),
  })
  process.stdout.write(`run ${RUN_S} s ... `)
  const rss = options.sampleRss ? sampleRss(server.pid) : null
  const waitSampler = sampleWaits(
    ctx.database.sql,
    ctx.database.name,
    server === ctx.baseline ? 'neoforge-baseline' : 'neoforge',
  )
  const cpuBefore = cpuSeconds(server.pid)
  const result = await runWrk({
    url: run.url,
    script: run.script,
    seconds: RUN_S,
    connections: CONNECTIONS,
    env: run.env('run'),
  })
  const cpuUsPerRequest = ((cpuSeconds(server.pid) - cpuBefore) * 1e6) / Math.max(1, result.requests)
  const rssMaxMiB = rss ? rss.stop() : null
  const waits = formatWaits(await waitSampler.stop())
  const errors = Object.values(result.errors).reduce((a, b) => a + b, 0)
  console.log(
    `${round(result.rps)} req/s, p50 ${round(result.p50Ms, 2)} ms, p99 ${round(result.p99Ms, 2)} ms` +
      (errors ? `, ${errors} errors ${JSON.stringify(result.errors)}` : '') +
      (rssMaxMiB !== null ? `, RSS max ${round(rssMaxMiB)} MiB` : '') +
      `; db backends ${waits}`,
  )
  return { result, cpuUsPerRequest, rssMaxMiB, waits }
}

/** Probes `workload` on the app of `ctx` (it must answer what the workload means), then measures it. */
async function measureWorkload(ctx: Context, workload: Workload, label: string) {
  await workload.probe?.(ctx)
  return measure(
    ctx,
    ctx.app,
    label,
    { url: workload.url(ctx), script: workload.script, env: (phase) => workload.env(ctx, phase) },
    { sampleRss: true },
  )
}

/** `use` against a second app instance, signed in, stopped afterwards. */
async function withOtherApp<T>(
  ctx: Context,
  start: () => Promise<ChildServer>,
  use: (other: Context) => Promise<T>,
): Promise<T> {
  const other = await start()
  try {
    return await use({ ...ctx, app: other, token: await login(other.url) })
  } finally {
    await other.stop()
  }
}

const fmt = (value: number, digits = 0) => round(value, digits).toLocaleString('en-US')

function table(rows: Measured[], byId: Map<string, Measured>): string {
  const lines = [
    '| Workload | Request | req/s | p50 ms | p99 ms | errors | server CPU µs/req | app RSS max MiB | ratio | target | DB backends (mean active: waits) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ]
  for (const row of rows) {
    const workload = workloads.find((w) => w.id === row.id)
    const target = workload?.target
    let ratio = ''
    let verdict = ''
    const denominatorId = target?.of ?? workload?.baseline?.id ?? row.ratioOf
    const denominator = denominatorId ? byId.get(denominatorId) : undefined
    if (denominator) {
      const value = row.result.rps / denominator.result.rps
      ratio = `${round(value, 2)} of ${denominator.id}`
      if (target) verdict = `>= ${target.min} ${value >= target.min ? 'met' : '**not met**'}`
    }
    const errors = Object.values(row.result.errors).reduce((a, b) => a + b, 0)
    lines.push(
      `| ${row.id} | ${row.title}${row.request ? ` (${row.request})` : ''} | ${fmt(row.result.rps)} | ${fmt(row.result.p50Ms, 2)} | ${fmt(row.result.p99Ms, 2)} | ${errors} | ${fmt(row.cpuUsPerRequest)} | ${row.rssMaxMiB === null ? '' : fmt(row.rssMaxMiB)} | ${ratio} | ${verdict} | ${row.waits} |`,
    )
  }
  return lines.join('\n')
}

await withCleanup(async (defer) => {
  const startedAt = new Date()
  console.log(
    `bench: ${quick ? 'quick' : 'full'} run, warm-up ${WARMUP_S} s + ${RUN_S} s per workload, ${CONNECTIONS} connections, 1 wrk thread`,
  )
  console.log(`bench: ${machineLoad()} (before)`)

  const database = await createBenchDatabase()
  defer(() => database.drop())
  const { projectId } = await seedStandard(database.sql)
  console.log(`bench: database ${database.name} migrated and seeded`)

  const app = await startApp(database.url)
  defer(() => app.stop())
  const baseline = await startBaseline(database.url)
  defer(() => baseline.stop())
  console.log(`bench: app pid ${app.pid} at ${app.url}, baseline pid ${baseline.pid} at ${baseline.url}`)

  const ctx: Context = {
    database,
    app,
    baseline,
    token: await login(app.url),
    projectId,
    runId: Date.now().toString(36),
  }
  const selected = workloads.filter((w) => !only || only.includes(w.id))
  const rows: Measured[] = []
  const byId = new Map<string, Measured>()
  const record = (row: Measured) => {
    rows.push(row)
    byId.set(row.id, row)
  }

  for (const workload of selected) {
    ctx.token = await login(app.url) // access tokens live <= 15 min; each workload gets a fresh one
    console.log(`${workload.id} ${workload.title}`)
    const measured = await measureWorkload(ctx, workload, workload.id)
    record({ id: workload.id, title: workload.title, request: workload.request, ...measured })
    const { variant } = workload
    if (variant) {
      const measuredVariant = await withOtherApp(
        ctx,
        () => startApp(database.url, variant.env),
        (other) => measureWorkload(other, workload, variant.id),
      )
      record({
        id: variant.id,
        title: workload.title,
        request: variant.note,
        ...measuredVariant,
        ratioOf: workload.baseline?.id,
      })
    }
    if (workload.baseline) {
      const base = workload.baseline
      const measuredBase = await measure(
        ctx,
        baseline,
        base.id,
        {
          url: base.url(ctx),
          script: workload.script === 'fresh-key.lua' ? 'fixed.lua' : workload.script,
          env: () => base.env(ctx),
        },
        { sampleRss: false },
      )
      record({ id: base.id, title: `baseline of ${workload.id}`, request: '', ...measuredBase })
    }
  }

  // The sag check: W1 again, after every other workload has kept the pool saturated.
  let sag: { first: Measured; again: Measured; baseFirst?: Measured; baseAgain?: Measured } | null = null
  const w1 = workloads[0] as Workload
  const first = byId.get('W1')
  if (first) {
    ctx.token = await login(app.url)
    // The writes of W4/W5 leave autovacuum and a checkpoint due, which slow app and baseline alike;
    // settle them first, so that the database is in the state the first W1 saw and only the
    // driver's own state (the pool's queue) differs.
    await ctx.database.sql`vacuum analyze`
    await ctx.database.sql`checkpoint`
    console.log('W1 again (sag check)')
    const again = await measureWorkload(ctx, w1, 'W1 again')
    const againRow: Measured = {
      id: 'W1 again',
      title: `${w1.title}, at the end`,
      request: 'sag check',
      ...again,
    }
    rows.push(againRow)
    const baseFirst = byId.get('base W1')
    let baseAgain: Measured | undefined
    if (baseFirst && w1.baseline) {
      const measuredBase = await measure(
        ctx,
        baseline,
        'base W1 again',
        { url: w1.baseline.url(ctx), script: 'fixed.lua', env: () => bearer(ctx) },
        { sampleRss: false },
      )
      baseAgain = {
        id: 'base W1 again',
        title: 'baseline of W1, at the end',
        request: 'control',
        ...measuredBase,
      }
      rows.push(baseAgain)
    }
    sag = { first, again: againRow, baseFirst, baseAgain }
  }

  if (experiments) {
    const variants: { id: string; note: string; start: () => Promise<ChildServer> }[] = [
      {
        id: 'X1',
        note: 'rate limits in Redis',
        async start() {
          const port = await freePort()
          const redis = Bun.spawn(
            [
              'redis-server',
              '--port',
              String(port),
              '--bind',
              '127.0.0.1',
              '--save',
              '',
              '--appendonly',
              'no',
            ],
            {
              stdout: 'ignore',
              stderr: 'ignore',
            },
          )
          defer(async () => {
            redis.kill('SIGTERM')
            await redis.exited
          })
          await Bun.sleep(300)
          return startApp(database.url, { REDIS_URL: `redis://127.0.0.1:${port}` })
        },
      },
      {
        id: 'X2',
        note: 'synchronous_commit=off',
        start: () => {
          const url = new URL(database.url)
          url.searchParams.set('synchronous_commit', 'off')
          return startApp(url.toString())
        },
      },
    ]
    if (!Bun.which('redis-server')) {
      console.log('bench: no redis-server: skipping X1 (apt-get install -y redis-server)')
      variants.shift()
    }
    // X3: the baseline's W1 with every statement unprepared, as drizzle sends unnamed queries.
    if (byId.get('base W1')) {
      console.log('X3 baseline of W1, statements unprepared (drizzle-orm postgres-js default)')
      const measuredBase = await measure(
        ctx,
        baseline,
        'X3 base W1',
        { url: `${baseline.url}/u/w1/${ctx.projectId}`, script: 'fixed.lua', env: () => bearer(ctx) },
        { sampleRss: false },
      )
      rows.push({
        id: 'X3 base W1',
        title: 'baseline of W1, unprepared statements',
        request: 'experiment: prepare: false, as drizzle runs unnamed queries',
        ...measuredBase,
        ratioOf: 'base W1',
      })
    }
    for (const variant of variants) {
      await withOtherApp(ctx, variant.start, async (other) => {
        for (const workload of workloads.filter((w) => w.id === 'W1' || w.id === 'W6')) {
          console.log(`${variant.id} ${workload.id} ${workload.title}, ${variant.note}`)
          const measured = await measureWorkload(other, workload, `${variant.id} ${workload.id}`)
          rows.push({
            id: `${variant.id} ${workload.id}`,
            title: workload.title,
            request: `experiment: ${variant.note}`,
            ...measured,
            ratioOf: workload.target?.of,
          })
        }
      })
    }
  }

  const rssMax = Math.max(...rows.filter((r) => r.rssMaxMiB !== null).map((r) => r.rssMaxMiB as number))
  const finishedAt = new Date()
  const lines = [
    `### bench/run.ts ${quick ? '--quick ' : ''}(${startedAt.toISOString()} .. ${finishedAt.toISOString()})`,
    '',
    `warm-up ${WARMUP_S} s + ${RUN_S} s per workload, ${CONNECTIONS} connections, 1 wrk thread; ${machineLoad()} (after).`,
    '',
    table(rows, byId),
    '',
    `App RSS under load: max ${fmt(rssMax)} MiB (target <= 200 MB: ${rssMax <= 200 ? 'met' : '**not met**'}).`,
  ]
  if (sag) {
    const change = sag.again.result.rps / sag.first.result.rps - 1
    lines.push(
      `Sag check: W1 ${fmt(sag.first.result.rps)} req/s first, ${fmt(sag.again.result.rps)} req/s at the end (${change >= 0 ? '+' : ''}${round(change * 100, 1)} %)` +
        (sag.baseFirst && sag.baseAgain
          ? `; baseline W1 ${fmt(sag.baseFirst.result.rps)} -> ${fmt(sag.baseAgain.result.rps)} req/s (${round((sag.baseAgain.result.rps / sag.baseFirst.result.rps - 1) * 100, 1)} %).`
          : '.'),
    )
  }
  const report = lines.join('\n')
  console.log(`\n${report}\n`)
  if (outFile) {
    writeFileSync(outFile, `${report}\n`)
    console.log(`bench: written to ${outFile}`)
  }
})
