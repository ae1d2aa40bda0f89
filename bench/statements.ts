import {
  BENCH_PROJECT_BODY,
  BENCH_USER_ID,
  createBenchDatabase,
  login,
  PG_SERVER_URL,
  round,
  seedStandard,
  startApp,
  startBaseline,
  withCleanup,
} from './lib'
import { startWireCounter } from './pg-wire-counter'

/**
 * `bun bench/statements.ts [--requests=200] [--sql]`: what one request of each workload asks of
 * PostgreSQL, counted on the wire (bench/pg-wire-counter.ts sits between the servers and the
 * database): statements, re-parses, network round trips, transactions and writing statements
 * (INSERT/UPDATE/DELETE, or a WITH holding one: W5's replay runs W4's statement, whose inserts then
 * write no row), for the app and for the bare baseline. Exact counts, independent of machine load,
 * so they explain the req/s of bench/run.ts. Requests are sent one at a time.
 */

const args = process.argv.slice(2)
const N = Number(args.find((arg) => arg.startsWith('--requests='))?.slice(11) ?? 200)
const showSql = args.includes('--sql')

interface Row {
  id: string
  statements: number
  parses: number
  roundTrips: number
  transactions: number
  writes: number
  texts: [string, number][]
}

await withCleanup(async (defer) => {
  const database = await createBenchDatabase()
  defer(() => database.drop())
  const { projectId } = await seedStandard(database.sql)
  const server = new URL(PG_SERVER_URL)
  const counter = await startWireCounter({ host: server.hostname, port: Number(server.port || 5432) })
  defer(() => counter.close())
  const proxied = new URL(database.url)
  proxied.port = String(counter.port)
  const app = await startApp(proxied.toString())
  defer(() => app.stop())
  const baseline = await startBaseline(proxied.toString())
  defer(() => baseline.stop())
  const token = await login(app.url)
  const auth = { authorization: `Bearer ${token}` }
  const json = { 'content-type': 'application/json' }
  let key = 0

  const workloads: { id: string; app: string; request: () => Promise<Response>; expect: number }[] = [
    {
      id: 'W1',
      app: 'neoforge',
      expect: 200,
      request: () => fetch(`${app.url}/api/v1/projects/${projectId}`, { headers: auth }),
    },
    {
      id: 'W2',
      app: 'neoforge',
      expect: 200,
      request: () => fetch(`${app.url}/api/v1/projects?page=1&page_size=20`, { headers: auth }),
    },
    {
      id: 'W3',
      app: 'neoforge',
      expect: 304,
      request: () =>
        fetch(`${app.url}/api/v1/projects/${projectId}`, { headers: { ...auth, 'if-none-match': '"v1"' } }),
    },
    {
      id: 'W4',
      app: 'neoforge',
      expect: 201,
      request: () =>
        fetch(`${app.url}/api/v1/projects`, {
          method: 'POST',
          headers: { ...auth, ...json, 'idempotency-key': `stmt-${Date.now()}-${++key}` },
          body: BENCH_PROJECT_BODY,
        }),
    },
    {
      id: 'W5',
      app: 'neoforge',
      expect: 201,
      request: () =>
        fetch(`${app.url}/api/v1/projects`, {
          method: 'POST',
          headers: { ...auth, ...json, 'idempotency-key': 'stmt-replayed' },
          body: BENCH_PROJECT_BODY,
        }),
    },
    { id: 'W6', app: 'neoforge', expect: 200, request: () => fetch(`${app.url}/api/v1/status`) },
    { id: 'W7', app: 'neoforge', expect: 200, request: () => fetch(`${app.url}/api/v1/community/posts`) },
    {
      id: 'base W1',
      app: 'neoforge-baseline',
      expect: 200,
      request: () => fetch(`${baseline.url}/w1/${projectId}`, { headers: auth }),
    },
    {
      id: 'base W2',
      app: 'neoforge-baseline',
      expect: 200,
      request: () => fetch(`${baseline.url}/w2`, { headers: auth }),
    },
    { id: 'base W6', app: 'neoforge-baseline', expect: 200, request: () => fetch(`${baseline.url}/w6`) },
    { id: 'base W7', app: 'neoforge-baseline', expect: 200, request: () => fetch(`${baseline.url}/w7`) },
    {
      id: 'base insert',
      app: 'neoforge-baseline',
      expect: 201,
      request: () =>
        fetch(`${baseline.url}/insert`, { method: 'POST', headers: json, body: BENCH_PROJECT_BODY }),
    },
    {
      id: 'base W1 unprepared',
      app: 'neoforge-baseline',
      expect: 200,
      request: () => fetch(`${baseline.url}/u/w1/${projectId}`, { headers: auth }),
    },
  ]

  const rows: Row[] = []
  for (const workload of workloads) {
    for (let i = 0; i < 20; i++) await (await workload.request()).arrayBuffer() // prepares, first use
    counter.take(workload.app)
    for (let i = 0; i < N; i++) {
      const res = await workload.request()
      await res.arrayBuffer()
      if (res.status !== workload.expect)
        throw new Error(`${workload.id}: ${res.status}, expected ${workload.expect}`)
    }
    const counts = counter.take(workload.app)
    rows.push({
      id: workload.id,
      statements: (counts.execute + counts.simpleQuery) / N,
      parses: counts.parse / N,
      roundTrips: counts.roundTrips / N,
      transactions: counts.transactions / N,
      writes: counts.writes / N,
      texts: [...counts.statements.entries()].sort((a, b) => b[1] - a[1]),
    })
    console.log(`${workload.id}: done`)
  }

  const lines = [
    `### bench/statements.ts: PostgreSQL work per request (${N} sequential requests each)`,
    '',
    '| Workload | statements | of which parsed again | round trips | transactions | writing statements |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.id} | ${round(r.statements, 2)} | ${round(r.parses, 2)} | ${round(r.roundTrips, 2)} | ${round(r.transactions, 2)} | ${round(r.writes, 2)} |`,
    ),
  ]
  if (showSql) {
    for (const r of rows) {
      lines.push('', `${r.id}, statements per request:`)
      for (const [text, n] of r.texts)
        lines.push(
          `  ${round(n / N, 2)} x ${text.replaceAll(BENCH_USER_ID, '<user>').replace(/\s+/g, ' ').slice(0, 160)}`,
        )
    }
  }
  console.log(`\n${lines.join('\n')}\n`)
})
