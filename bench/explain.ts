/**
 * `bun bench/explain.ts [--rows N]`: seeds a fresh PostgreSQL database with N rows per table
 * (default 100,000), then prints, for each list endpoint, the query it runs (as the services
 * build it) and `EXPLAIN (ANALYZE, BUFFERS)` of it, as the markdown of docs/database.md.
 * Needs TEST_DATABASE_URL or DATABASE_URL naming a server (default postgres://postgres@127.0.0.1:5432/test).
 */
import postgres from 'postgres'
import { openDatabase } from '../db/client'
import { migrate } from '../db/migrate'

const rowsArg = process.argv.indexOf('--rows')
const ROWS = rowsArg > 0 ? Number(process.argv[rowsArg + 1]) : 100_000
const serverUrl =
  process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const name = `neoforge_explain_${Date.now().toString(36)}`
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
await admin.unsafe(`create database "${name}"`)
const url = new URL(serverUrl)
url.pathname = `/${name}`

try {
  const handle = await openDatabase({ url: url.toString() }, { max: 2 })
  await migrate(handle)
  await handle.close()
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} })

  // Users: 1,000 (one of them owns a tenth of everything), plus staff.
  await sql.unsafe(`
    insert into users (email, password_hash, full_name, role)
    select 'user' || g || '@example.com', 'x', 'User ' || g, case when g <= 5 then 'staff' else 'user' end
    from generate_series(1, 1000) g;
    create temporary table owners as select id, row_number() over (order by email) as n from users;
    insert into projects (owner_id, name, description, created_at, updated_at)
    select (select id from owners where n = 1 + (g % 10)), 'Project ' || g || ' ' || md5(g::text), null,
           now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval
    from generate_series(1, ${ROWS}) g;
    insert into support_tickets (email, subject, message, status, priority, user_id, created_at, updated_at)
    select 'c' || g || '@example.com', 'Subject ' || md5(g::text), 'Message ' || g,
           (array['open','pending','resolved','closed'])[1 + g % 4], (array['low','normal','high','urgent'])[1 + g % 4],
           (select id from owners where n = 1 + (g % 100)), now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval
    from generate_series(1, ${ROWS}) g;
    insert into community_posts (author_id, title, content, status, report_count, created_at, updated_at)
    select (select id from owners where n = 1 + (g % 100)), 'Title ' || md5(g::text), 'Content ' || g,
           case when g % 50 = 0 then 'hidden' when g % 40 = 0 then 'pending' else 'published' end,
           case when g % 97 = 0 then 1 else 0 end, now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval
    from generate_series(1, ${ROWS}) g;
    insert into status_events (service, status, description, created_at)
    select 'service-' || (g % 20), (array['operational','degraded','maintenance'])[1 + g % 3], null, now() - (g || ' seconds')::interval
    from generate_series(1, ${ROWS}) g;
    insert into services (service, status, since) select distinct on (service) service, status, created_at
    from status_events order by service, created_at desc;
    insert into user_sessions (id, token_hash, user_id, kind, created_at, last_used_at, expires_at, revoked_at)
    select gen_random_uuid(), md5(g::text) || md5((g + 1)::text), (select id from owners where n = 1 + (g % 1000)), 'bearer',
           now() - (g || ' seconds')::interval, now(), now() + interval '30 days',
           case when g % 3 = 0 then now() else null end
    from generate_series(1, ${ROWS}) g;
    insert into audit_log (at, actor_id, action, target, details)
    select now() - (g || ' seconds')::interval, (select id from owners where n = 1 + (g % 1000)),
           (array['auth.login','session.revoke','ticket.update','post.moderate'])[1 + g % 4], 'user:' || g, '{}'
    from generate_series(1, ${ROWS}) g;
    analyze;
  `)

  const [owner] = await sql`select id from users order by email limit 1`
  const ownerId = owner?.id as string
  // The item a `Link` rel="next" would name, 5,000 items deep into the owner's list.
  const [boundary] = await sql`select id from projects where owner_id = ${ownerId}
    order by created_at desc, id desc offset 5000 limit 1`
  const boundaryId = boundary?.id as string
  const PAGE = 'limit 20 offset 0'
  const cases: { endpoint: string; note: string; query: string }[] = [
    {
      endpoint: 'GET /projects (a user: their own, newest first)',
      note: 'projects_owner_created_idx: the owner filter and the order in one index scan',
      query: `select * from projects where owner_id = '${ownerId}' order by created_at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /projects total (a user: list_counts)',
      note: 'list_counts_scope_slot_pk: at most 64 slot rows of the owner’s scope',
      query: `select coalesce(sum(n), 0) from list_counts where scope = 'projects:owner:${ownerId}'`,
    },
    {
      endpoint: 'GET /projects next page (Link after=, a user)',
      note: 'projects_owner_created_idx: a range from the boundary row (found by projects_pkey)',
      query: `select * from projects where owner_id = '${ownerId}' and (created_at, id) < (select created_at, id from projects
              where id = '${boundaryId}' and owner_id = '${ownerId}') order by created_at desc, id desc limit 20`,
    },
    {
      endpoint: 'GET /projects last page (a user: read backwards)',
      note: 'projects_owner_created_idx, scanned backwards',
      query: `select * from projects where owner_id = '${ownerId}' order by created_at asc, id asc limit 20`,
    },
    {
      endpoint: 'GET /projects (staff: all, newest first)',
      note: 'projects_created_idx',
      query: `select * from projects order by created_at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /projects?q=… (case-insensitive substring)',
      note: 'projects_name_trgm_idx (GIN trigram on lower(name))',
      query: `select * from projects where lower(name) like '%abc1%' escape '\\' order by created_at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /projects?sort=name (a user)',
      note: 'projects_owner_name_idx',
      query: `select * from projects where owner_id = '${ownerId}' order by name asc, id asc ${PAGE}`,
    },
    {
      endpoint: 'GET /support/tickets?status=open (staff)',
      note: 'support_tickets_status_created_idx',
      query: `select * from support_tickets where status = 'open' order by created_at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /support/tickets (a user: tickets they opened)',
      note: 'support_tickets_user_created_idx',
      query: `select * from support_tickets where user_id = '${ownerId}' order by created_at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /support/tickets?assignee_id=none (staff)',
      note: 'support_tickets_assignee_created_idx (NULLs are indexed)',
      query: `select * from support_tickets where assignee_id is null order by created_at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /community/posts (public: published, newest first, with author name)',
      note: 'community_posts_status_created_idx, then users_pkey per row',
      query: `select p.*, coalesce(u.full_name, split_part(u.email, '@', 1)) as author_name from community_posts p
              join users u on u.id = p.author_id where p.status = 'published' order by p.created_at desc, p.id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /community/posts total (public: list_counts)',
      note: 'list_counts_scope_slot_pk',
      query: `select coalesce(sum(n), 0) from list_counts where scope = 'posts:status:published'`,
    },
    {
      endpoint: 'GET /community/posts?q=… total (a search counts its matches)',
      note: 'community_posts_title_trgm_idx',
      query: `select count(*) from community_posts where status = 'published' and lower(title) like '%abc1%' escape '\\'`,
    },
    {
      endpoint: 'GET /community/posts?reported=true (staff)',
      note: 'community_posts_reported_idx (partial: report_count > 0)',
      query: `select * from community_posts where report_count > 0 order by created_at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /status/events?service=… (newest first)',
      note: 'status_events_service_created_idx (service, created_at desc)',
      query: `select * from status_events where service = 'service-7' order by created_at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /status (current status of every service)',
      note: 'services: one row per service, kept in step with events',
      query: `select * from services order by service`,
    },
    {
      endpoint: 'GET /auth/sessions (active, newest first)',
      note: 'user_sessions_user_created_idx (user_id, created_at desc)',
      query: `select * from user_sessions where user_id = '${ownerId}' and revoked_at is null and expires_at > now()
              order by created_at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /admin/users?q=… (email substring)',
      note: 'users_email_trgm_idx',
      query: `select * from users where lower(email) like '%user12%' escape '\\' order by created_at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /admin/audit-log?action=ticket.update',
      note: 'audit_log_action_idx (action, at desc)',
      query: `select * from audit_log where action = 'ticket.update' order by at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'GET /admin/audit-log?target=user:42',
      note: 'audit_log_target_idx',
      query: `select * from audit_log where target = 'user:42' order by at desc, id desc ${PAGE}`,
    },
    {
      endpoint: 'Per request: the session behind a credential (lucia getSessionAndUser)',
      note: 'user_sessions_token_hash_key, users_pkey',
      query: `select * from user_sessions s join users u on u.id = s.user_id
              where s.token_hash = (select token_hash from user_sessions limit 1) and s.revoked_at is null limit 1`,
    },
    {
      endpoint: 'GET /projects/{id}: the session with its project (preload)',
      note: 'user_sessions_token_hash_key, users_pkey, projects_pkey',
      query: `select * from user_sessions s join users u on u.id = s.user_id
              left join projects p on p.id = (select id from projects limit 1)
              where s.token_hash = (select token_hash from user_sessions limit 1) and s.revoked_at is null limit 1`,
    },
  ]

  const [{ version }] = (await sql`select version()`) as unknown as [{ version: string }]
  const out: string[] = [
    '# Database: lists, queries and indexes',
    '',
    'Every list endpoint reads one page (`… order by <sort>, id limit $page_size`, by `offset`, by a seek',
    'from the item a `Link` names, or backwards from the end; `readPage` in `server/http/pagination.ts`) and',
    'its total: a sum over `list_counts` for the default lists (kept by triggers, migration 0007), else a',
    '`count(*)` with the same filter. The indexes are declared in `db/schema.ts` (the single source of',
    'truth) and created by the committed migrations. Below: each hot query as the services build it,',
    `the index that serves it, and \`EXPLAIN (ANALYZE, BUFFERS)\` taken on ${version.split(',')[0]} with`,
    `${ROWS.toLocaleString('en')} rows in each table (\`bun bench/explain.ts --rows ${ROWS}\`, which regenerates this file).`,
    '',
    '| Endpoint | Index | Execution time |',
    '|---|---|---|',
  ]
  const details: string[] = []
  for (const { endpoint, note, query } of cases) {
    const plan = (await sql.unsafe(`explain (analyze, buffers, costs off) ${query}`)) as unknown as {
      'QUERY PLAN': string
    }[]
    const lines = plan.map((row) => row['QUERY PLAN'])
    const time =
      lines.find((line) => line.startsWith('Execution Time'))?.replace('Execution Time: ', '') ?? ''
    out.push(`| ${endpoint} | ${note} | ${time} |`)
    details.push(
      `### ${endpoint}`,
      '',
      `Index: ${note}.`,
      '',
      '```sql',
      query.replace(/\s+/g, ' ').trim(),
      '```',
      '',
      '```text',
      ...lines,
      '```',
      '',
    )
  }
  out.push(
    '',
    '`list_counts` holds one row per scope and slot: a writing transaction adds its net change to slot',
    '`txid % 64` of each scope it touches (`projects`, `projects:owner:<id>`, `posts`, `posts:status:<s>`),',
    'so concurrent writers of one scope rarely wait on each other, and a total is the sum of its slots.',
    'The triggers are statement-level with transition tables, so a bulk insert of a million rows adds',
    'one row per scope; an update that moves no row between scopes writes nothing. To check for drift',
    '(there is none unless someone disables the triggers), compare',
    '`select scope, sum(n) from list_counts group by scope` with the `count(*)` of each scope.',
    '',
    'Lists at a million rows, deep pages and the count strategies are measured in',
    '[performance.md](performance.md#lists-at-a-million-rows).',
    '',
    '## Plans',
    '',
    ...details,
  )
  await Bun.write(new URL('../docs/database.md', import.meta.url).pathname, `${out.join('\n')}\n`)
  console.log(out.slice(8, 8 + cases.length + 2).join('\n'))
  await sql.end()
} finally {
  await admin.unsafe(`drop database if exists "${name}" with (force)`)
  await admin.end()
}
