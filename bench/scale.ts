import { and, desc, eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import type postgres from 'postgres'
import { countAll } from '../db/client'
import * as schema from '../db/schema'
import {
  BENCH_USER_ID,
  createBenchDatabase,
  login,
  machineLoad,
  median,
  round,
  seedPosts,
  seedProjects,
  seedStatus,
  seedUser,
  startApp,
  withCleanup,
} from './lib'

/**
 * `bun bench/scale.ts [--rows=1000000] [--repeat=7] [--no-explain]` (issue 7, item 4).
 *
 * Times page 1, page 40000 and the last page of the two default lists, `GET /api/v1/projects`
 * (the bench user owns every project, so a user sees them all, as staff would) and
 * `GET /api/v1/community/posts` (anonymous: published posts), first with 1,000 rows in each
 * table and then, in the same database and app, with `--rows` (default 1,000,000) after
 * `VACUUM ANALYZE`. Each figure is the median of `--repeat` sequential requests after two
 * warm-ups. Then, at the large size, EXPLAIN (ANALYZE, BUFFERS) of the statements the app runs
 * for the slow requests (drizzle's own SQL, built with the same query builder calls as the
 * services) and of the alternatives docs/performance.md weighs: keyset seek, a deferred join,
 * reading the last pages backwards, and count strategies.
 */

const args = process.argv.slice(2)
const option = (name: string, fallback: number) =>
  Number(args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const ROWS = option('rows', 1_000_000)
const REPEAT = option('repeat', 7)
const explain = !args.includes('--no-explain')
const SMALL = 1000
const PAGE_SIZE = 20
const DEEP_PAGE = 40_000

interface Timing {
  list: string
  page: string
  ms: number
  total: number
  items: number
}

async function timeRequest(url: string, headers: Record<string, string>) {
  const samples: number[] = []
  let body: { total: number; items: unknown[]; pages: number } | undefined
  for (let i = 0; i < REPEAT + 2; i++) {
    const started = performance.now()
    const res = await fetch(url, { headers })
    const text = await res.text()
    const ms = performance.now() - started
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${text.slice(0, 300)}`)
    body = JSON.parse(text)
    if (i >= 2) samples.push(ms)
  }
  return { ms: median(samples), body: body as { total: number; items: unknown[]; pages: number } }
}

async function measureLists(appUrl: string, token: string): Promise<Timing[]> {
  const lists: { list: string; path: string; headers: Record<string, string> }[] = [
    { list: 'GET /projects', path: '/api/v1/projects', headers: { authorization: `Bearer ${token}` } },
    { list: 'GET /community/posts', path: '/api/v1/community/posts', headers: {} },
  ]
  const timings: Timing[] = []
  for (const { list, path, headers } of lists) {
    const first = await timeRequest(`${appUrl}${path}?page=1&page_size=${PAGE_SIZE}`, headers)
    timings.push({
      list,
      page: 'page=1',
      ms: first.ms,
      total: first.body.total,
      items: first.body.items.length,
    })
    const deep = await timeRequest(`${appUrl}${path}?page=${DEEP_PAGE}&page_size=${PAGE_SIZE}`, headers)
    timings.push({
      list,
      page: `page=${DEEP_PAGE}`,
      ms: deep.ms,
      total: deep.body.total,
      items: deep.body.items.length,
    })
    const last = await timeRequest(
      `${appUrl}${path}?page=${first.body.pages}&page_size=${PAGE_SIZE}`,
      headers,
    )
    timings.push({
      list,
      page: 'last page',
      ms: last.ms,
      total: last.body.total,
      items: last.body.items.length,
    })
  }
  for (const t of timings)
    console.log(`  ${t.list} ${t.page}: ${round(t.ms, 1)} ms (total ${t.total}, ${t.items} items)`)
  return timings
}

/** EXPLAIN (ANALYZE, BUFFERS) of `query`: its execution time (median of 3) and the plan of the last. */
async function explainAnalyze(client: postgres.Sql, query: { sql: string; params: unknown[] }) {
  const times: number[] = []
  let plan: string[] = []
  for (let i = 0; i < 3; i++) {
    const rows = await client.unsafe(
      `explain (analyze, buffers) ${query.sql}`,
      query.params as postgres.ParameterOrJSON<never>[],
    )
    plan = rows.map((row) => String(row['QUERY PLAN']))
    const line = plan.find((l) => l.startsWith('Execution Time'))
    times.push(Number(/([\d.]+) ms/.exec(line ?? '')?.[1] ?? Number.NaN))
  }
  return { ms: median(times), plan }
}

await withCleanup(async (defer) => {
  console.log(`scale: ${machineLoad()}`)
  const database = await createBenchDatabase('neoforge_scale')
  defer(() => database.drop())
  const client = database.sql
  await seedUser(client)
  await seedProjects(client, SMALL)
  await seedPosts(client, SMALL)
  await seedStatus(client)
  await client`vacuum analyze`
  const app = await startApp(database.url)
  defer(() => app.stop())
  let token = await login(app.url)

  console.log(`scale: ${SMALL} rows`)
  const small = await measureLists(app.url, token)

  const seedStarted = performance.now()
  const extra = ROWS - SMALL
  // In batches, so that one statement's work (and its WAL) stays moderate.
  const BATCH = 250_000
  for (let from = SMALL; from < ROWS; from += BATCH) {
    const count = Math.min(BATCH, ROWS - from)
    await seedProjects(client, count, from)
    await seedPosts(client, count, from)
    process.stdout.write(`\rscale: seeded ${from + count - SMALL} of ${extra} more rows per table`)
  }
  await client`vacuum analyze`
  console.log(
    `\nscale: seeding and VACUUM ANALYZE took ${round((performance.now() - seedStarted) / 1000, 1)} s`,
  )

  token = await login(app.url)
  console.log(`scale: ${ROWS.toLocaleString('en-US')} rows`)
  const large = await measureLists(app.url, token)

  const lines = [
    `### bench/scale.ts (${new Date().toISOString()}): list latency at ${SMALL.toLocaleString('en-US')} vs ${ROWS.toLocaleString('en-US')} rows`,
    '',
    `Median of ${REPEAT} sequential requests after 2 warm-ups, page_size=${PAGE_SIZE}; ${machineLoad()}.`,
    '',
    `| List | Page | ms at ${SMALL.toLocaleString('en-US')} | ms at ${ROWS.toLocaleString('en-US')} | ratio | target <= 3x |`,
    '| --- | --- | ---: | ---: | ---: | --- |',
  ]
  small.forEach((s, i) => {
    const l = large[i] as Timing
    const ratio = l.ms / s.ms
    lines.push(
      `| ${s.list} | ${s.page} (${s.items} -> ${l.items} items) | ${round(s.ms, 1)} | ${round(l.ms, 1)} | ${round(ratio, 1)}x | ${ratio <= 3 ? 'met' : '**not met**'} |`,
    )
  })
  console.log(`\n${lines.join('\n')}\n`)

  if (!explain) return
  // The statements of listProjects / listPosts, built as the services build them.
  const db = drizzle(client, { schema })
  const { projects, communityPosts, users } = schema
  const ownProjects = eq(projects.ownerId, BENCH_USER_ID)
  const projectOrder = [desc(projects.createdAt), desc(projects.id)]
  const published = eq(communityPosts.status, 'published')
  const postOrder = [desc(communityPosts.createdAt), desc(communityPosts.id)]
  const authorName = sql<string>`coalesce(nullif(btrim(${users.fullName}), ''), split_part(${users.email}, '@', 1))`
  const selectPosts = () =>
    db
      .select({ post: communityPosts, authorName })
      .from(communityPosts)
      .innerJoin(users, eq(users.id, communityPosts.authorId))
  const lastOffset = (Math.ceil(ROWS / PAGE_SIZE) - 1) * PAGE_SIZE
  // page 40000 exists from 800,000 rows on; below that the deepest page stands in for it
  const deepOffset = Math.min((DEEP_PAGE - 1) * PAGE_SIZE, lastOffset)

  // Keyset: the row just before page 40000 (what an `after` cursor would carry).
  const [anchorProject] = await client<{ created_at: Date; id: string }[]>`
    select created_at, id from projects where owner_id = ${BENCH_USER_ID}
    order by created_at desc, id desc offset ${deepOffset - 1} limit 1`
  const [anchorPost] = await client<{ created_at: Date; id: number }[]>`
    select created_at, id from community_posts where status = 'published'
    order by created_at desc, id desc offset ${deepOffset - 1} limit 1`
  if (!anchorProject || !anchorPost) throw new Error('no anchor rows')

  const raw = (text: string, params: unknown[] = []) => ({ sql: text, params })
  const cases: { label: string; query: { sql: string; params: unknown[] } }[] = [
    {
      label: 'projects page=1 (app)',
      query: db
        .select()
        .from(projects)
        .where(and(ownProjects))
        .orderBy(...projectOrder)
        .limit(PAGE_SIZE)
        .toSQL(),
    },
    {
      label: 'projects count (app)',
      query: db.select({ total: countAll }).from(projects).where(and(ownProjects)).toSQL(),
    },
    {
      label: `projects page=${DEEP_PAGE} (app: OFFSET ${deepOffset})`,
      query: db
        .select()
        .from(projects)
        .where(and(ownProjects))
        .orderBy(...projectOrder)
        .limit(PAGE_SIZE)
        .offset(deepOffset)
        .toSQL(),
    },
    {
      label: `projects last page (app: OFFSET ${lastOffset})`,
      query: db
        .select()
        .from(projects)
        .where(and(ownProjects))
        .orderBy(...projectOrder)
        .limit(PAGE_SIZE)
        .offset(lastOffset)
        .toSQL(),
    },
    {
      label: `projects page=${DEEP_PAGE} by keyset seek (after the previous page's last row)`,
      query: db
        .select()
        .from(projects)
        .where(
          and(
            ownProjects,
            sql`(${projects.createdAt}, ${projects.id}) < (${anchorProject.created_at}, ${anchorProject.id})`,
          ),
        )
        .orderBy(...projectOrder)
        .limit(PAGE_SIZE)
        .toSQL(),
    },
    {
      label: `projects page=${DEEP_PAGE} by deferred join (OFFSET over the index only)`,
      query: raw(
        `select p.* from projects p join (select id from projects where owner_id = $1 order by created_at desc, id desc limit ${PAGE_SIZE} offset ${deepOffset}) k using (id) order by p.created_at desc, p.id desc`,
        [BENCH_USER_ID],
      ),
    },
    {
      label: 'projects last page read backwards (ORDER BY ... ASC, no offset)',
      query: raw(
        `select * from (select * from projects where owner_id = $1 order by created_at asc, id asc limit ${ROWS - lastOffset}) t order by created_at desc, id desc`,
        [BENCH_USER_ID],
      ),
    },
    {
      label: 'projects count capped at 10,001',
      query: raw(`select count(*) from (select 1 from projects where owner_id = $1 limit 10001) t`, [
        BENCH_USER_ID,
      ]),
    },
    {
      label: 'projects row estimate (pg_class.reltuples)',
      query: raw(`select reltuples::bigint from pg_class where oid = 'projects'::regclass`),
    },
    {
      label: 'posts page=1 (app)',
      query: selectPosts()
        .where(published)
        .orderBy(...postOrder)
        .limit(PAGE_SIZE)
        .toSQL(),
    },
    {
      label: 'posts count (app)',
      query: db.select({ total: countAll }).from(communityPosts).where(published).toSQL(),
    },
    {
      label: `posts page=${DEEP_PAGE} (app: OFFSET ${deepOffset})`,
      query: selectPosts()
        .where(published)
        .orderBy(...postOrder)
        .limit(PAGE_SIZE)
        .offset(deepOffset)
        .toSQL(),
    },
    {
      label: `posts last page (app: OFFSET ${lastOffset})`,
      query: selectPosts()
        .where(published)
        .orderBy(...postOrder)
        .limit(PAGE_SIZE)
        .offset(lastOffset)
        .toSQL(),
    },
    {
      label: `posts page=${DEEP_PAGE} by keyset seek`,
      query: selectPosts()
        .where(
          and(
            published,
            sql`(${communityPosts.createdAt}, ${communityPosts.id}) < (${anchorPost.created_at}, ${anchorPost.id})`,
          ),
        )
        .orderBy(...postOrder)
        .limit(PAGE_SIZE)
        .toSQL(),
    },
    {
      label: `posts page=${DEEP_PAGE} by deferred join (OFFSET over the index, join after)`,
      query: raw(
        `select p.*, coalesce(nullif(btrim(u.full_name), ''), split_part(u.email, '@', 1)) from (select id from community_posts where status = 'published' order by created_at desc, id desc limit ${PAGE_SIZE} offset ${deepOffset}) k join community_posts p using (id) join users u on u.id = p.author_id order by p.created_at desc, p.id desc`,
      ),
    },
    {
      label: 'posts count capped at 10,001',
      query: raw(
        `select count(*) from (select 1 from community_posts where status = 'published' limit 10001) t`,
      ),
    },
  ]

  const summary = [
    `### EXPLAIN (ANALYZE, BUFFERS) at ${ROWS.toLocaleString('en-US')} rows: execution time, median of 3`,
    '',
    '| Statement | ms |',
    '| --- | ---: |',
  ]
  const plans: string[] = []
  for (const { label, query } of cases) {
    const { ms, plan } = await explainAnalyze(client, query)
    summary.push(`| ${label} | ${round(ms, 2)} |`)
    plans.push(`-- ${label}\n-- ${query.sql.replace(/\s+/g, ' ').slice(0, 400)}\n${plan.join('\n')}`)
  }
  console.log(`${summary.join('\n')}\n`)
  console.log('Plans:\n')
  console.log(plans.join('\n\n'))
})
