import postgres from 'postgres'
import { accessTokenSealer, sha256Hex } from '../server/features/auth/tokens'

/**
 * The bare-metal baseline of bench/run.ts: `Bun.serve` and postgres-js, no framework, running the
 * SQL the app runs for the same request (the statements below are drizzle's own text, copied from
 * `.toSQL()` of the app's queries), with the same pool size (10). What it does per request is
 * the least the contract needs:
 *
 *   /w1/:id   open the sealed access token (AES-256-GCM, as the app does), SHA-256 the session
 *             token, the session+user join of DrizzleSessionAdapter.getSessionAndUser, the expiry
 *             and is_active checks, then getProject's select (owner-scoped) -> 200 JSON + ETag
 *   /w2       the same authentication, then listProjects' page 1 and count(*) in parallel
 *   /w6       getSummary's read of `services`, worst status and reasons
 *   /w7       listPosts' page 1 (join users for the author name) and count(*) for published posts
 *   /insert   a bare insert of a project (no auth, no idempotency): W4's denominator
 *
 * The same routes under /u/... send every statement unprepared (`sql.unsafe(text, params)`,
 * which is how drizzle-orm's postgres-js session runs any query not given a name): the difference
 * is the price of that driver mode alone.
 *
 * Env: DATABASE_URL, APP_SECRET (to open the app's access tokens), BENCH_OWNER_ID, PORT, HOST.
 */

const url = process.env.DATABASE_URL
const secret = process.env.APP_SECRET
if (!url || !secret) {
  console.error('baseline: DATABASE_URL and APP_SECRET are required')
  process.exit(78)
}
const client = postgres(url, {
  max: 10,
  onnotice: () => {},
  connection: { application_name: 'neoforge-baseline' },
})
const sealer = accessTokenSealer(secret)
/** The owner of the bare inserts (the bench user). */
const OWNER_ID = process.env.BENCH_OWNER_ID ?? '00000000-0000-4000-8000-00000000b0b0'

const SESSION_SQL =
  'select "user_sessions"."id", "user_sessions"."token_hash", "user_sessions"."user_id", "user_sessions"."kind", "user_sessions"."created_at", "user_sessions"."last_used_at", "user_sessions"."expires_at", "user_sessions"."revoked_at", "user_sessions"."user_agent", "user_sessions"."ip", "users"."id", "users"."email", "users"."password_hash", "users"."full_name", "users"."role", "users"."is_active", "users"."created_at", "users"."updated_at", "users"."last_login_at", "users"."version" from "user_sessions" inner join "users" on "users"."id" = "user_sessions"."user_id" where ("user_sessions"."token_hash" = $1 and "user_sessions"."revoked_at" is null) limit $2'
const PROJECT_SQL =
  'select "id", "owner_id", "name", "description", "created_at", "updated_at", "version" from "projects" where ("projects"."id" = $1 and "projects"."owner_id" = $2) limit $3'
const PROJECT_PAGE_SQL =
  'select "id", "owner_id", "name", "description", "created_at", "updated_at", "version" from "projects" where "projects"."owner_id" = $1 order by "projects"."created_at" desc, "projects"."id" desc limit $2'
const PROJECT_COUNT_SQL = 'select count(*) from "projects" where "projects"."owner_id" = $1'
const SERVICES_SQL =
  'select "service", "status", "description", "since", "updated_at", "version" from "services" order by "services"."service" asc'
const POSTS_PAGE_SQL =
  'select "community_posts"."id", "community_posts"."author_id", "community_posts"."title", "community_posts"."content", "community_posts"."status", "community_posts"."report_count", "community_posts"."moderation_reason", "community_posts"."moderated_by", "community_posts"."moderated_at", "community_posts"."created_at", "community_posts"."updated_at", "community_posts"."version", coalesce(nullif(btrim("users"."full_name"), \'\'), split_part("users"."email", \'@\', 1)) from "community_posts" inner join "users" on "users"."id" = "community_posts"."author_id" where "community_posts"."status" = $1 order by "community_posts"."created_at" desc, "community_posts"."id" desc limit $2'
const POSTS_COUNT_SQL = 'select count(*) from "community_posts" where "community_posts"."status" = $1'
const INSERT_SQL =
  'insert into "projects" ("id", "owner_id", "name", "description", "created_at", "updated_at", "version") values (default, $1, $2, $3, default, default, default) returning "id", "owner_id", "name", "description", "created_at", "updated_at", "version"'

type Row = Record<string, unknown>
/** Prepared (postgres-js's default for its own queries) or unprepared (drizzle's default). */
type Run = (text: string, params: unknown[]) => Promise<unknown[][]>
const prepared: Run = (text, params) =>
  client.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }).values()
const unprepared: Run = (text, params) =>
  client.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: false }).values()

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  })
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : String(value))

/** The caller's user id, or null: token seal, session lookup, expiry and is_active. */
async function authenticate(request: Request, run: Run): Promise<string | null> {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '')?.[1]
  const opened = bearer ? sealer.open(bearer) : null
  if (!opened) return null
  const [row] = await run(SESSION_SQL, [sha256Hex(opened.sessionToken), 1])
  if (!row) return null
  const expiresAt = row[6] as Date
  const isActive = row[15] as boolean
  if (expiresAt.getTime() <= Date.now() || !isActive) return null
  return row[2] as string
}

const projectView = (row: unknown[]) => ({
  id: row[0],
  name: row[2],
  description: row[3],
  owner_id: row[1],
  created_at: iso(row[4]),
  updated_at: iso(row[5]),
})

const unauthenticated = () => json({ code: 'unauthenticated' }, 401)

function routes(run: Run) {
  return {
    async w1(request: Request, id: string) {
      if (!UUID.test(id)) return json({ code: 'validation_failed' }, 422)
      const userId = await authenticate(request, run)
      if (!userId) return unauthenticated()
      const [row] = await run(PROJECT_SQL, [id, userId, 1])
      if (!row) return json({ code: 'not_found' }, 404)
      return json(projectView(row), 200, { etag: `"v${row[6]}"` })
    },
    async w2(request: Request) {
      const userId = await authenticate(request, run)
      if (!userId) return unauthenticated()
      const [rows, [counted]] = await Promise.all([
        run(PROJECT_PAGE_SQL, [userId, 20]),
        run(PROJECT_COUNT_SQL, [userId]),
      ])
      const total = Number(counted?.[0] ?? 0)
      return json({
        items: rows.map(projectView),
        total,
        page: 1,
        page_size: 20,
        pages: Math.ceil(total / 20),
      })
    },
    async w6() {
      const rows = await run(SERVICES_SQL, [])
      const severity = ['operational', 'maintenance', 'degraded', 'partial_outage', 'major_outage']
      let worst = 'operational'
      let updatedAt: Date | null = null
      for (const row of rows) {
        if (severity.indexOf(row[1] as string) > severity.indexOf(worst)) worst = row[1] as string
        const at = row[4] as Date
        if (updatedAt === null || at > updatedAt) updatedAt = at
      }
      return json({
        status: worst,
        updated_at: updatedAt?.toISOString() ?? null,
        services: rows.map((row) => ({
          service: row[0],
          status: row[1],
          since: iso(row[3]),
          description: row[2],
        })),
        reasons:
          worst === 'operational'
            ? []
            : rows
                .filter((row) => row[1] === worst)
                .map((row) => ({ service: row[0], status: row[1], since: iso(row[3]) })),
      })
    },
    async w7() {
      const [rows, [counted]] = await Promise.all([
        run(POSTS_PAGE_SQL, ['published', 20]),
        run(POSTS_COUNT_SQL, ['published']),
      ])
      const total = Number(counted?.[0] ?? 0)
      return json({
        items: rows.map((row) => ({
          id: row[0],
          title: row[2],
          content: row[3],
          author_id: row[1],
          author_name: row[12],
          status: row[4],
          report_count: row[5],
          created_at: iso(row[9]),
          updated_at: iso(row[10]),
        })),
        total,
        page: 1,
        page_size: 20,
        pages: Math.ceil(total / 20),
      })
    },
    async insert(request: Request) {
      const body = (await request.json()) as Row
      if (typeof body.name !== 'string') return json({ code: 'validation_failed' }, 422)
      const [row] = await run(INSERT_SQL, [OWNER_ID, body.name.trim(), body.description ?? null])
      if (!row) throw new Error('insert returned no row')
      return json(projectView(row), 201, { location: `/api/v1/projects/${row[0]}`, etag: `"v${row[6]}"` })
    },
  }
}

const fast = routes(prepared)
const slow = routes(unprepared)

const server = Bun.serve({
  port: Number(process.env.PORT ?? 3100),
  hostname: process.env.HOST ?? '127.0.0.1',
  routes: {
    '/ready': () => new Response('ok'),
    '/w1/:id': (request) => fast.w1(request, request.params.id),
    '/w2': (request) => fast.w2(request),
    '/w6': () => fast.w6(),
    '/w7': () => fast.w7(),
    '/insert': { POST: (request) => fast.insert(request) },
    '/u/w1/:id': (request) => slow.w1(request, request.params.id),
    '/u/w2': (request) => slow.w2(request),
    '/u/w6': () => slow.w6(),
    '/u/insert': { POST: (request) => slow.insert(request) },
  },
  fetch: () => new Response('not found', { status: 404 }),
  error: (error) => {
    console.error(error)
    return new Response('internal error', { status: 500 })
  },
})

const stop = async () => {
  await server.stop()
  await client.end({ timeout: 2 })
  process.exit(0)
}
process.on('SIGTERM', () => void stop())
process.on('SIGINT', () => void stop())
