import { randomBytes } from 'node:crypto'
import { gt, inArray, sql } from 'drizzle-orm'
import { ConfigError, loadConfig } from '../server/config'
import { updateUser } from '../server/features/admin/service'
import { createAuthService } from '../server/features/auth/service'
import { createPost, reportPost, updatePost, type Viewer } from '../server/features/community/service'
import { createProject } from '../server/features/projects/service'
import { recordEvent } from '../server/features/status/service'
import { createTicket, updateTicket } from '../server/features/support/service'
import { createUser } from '../server/features/users/service'
import type { Principal } from '../server/http/auth'
import { createMetricsRegistry } from '../server/http/metrics'
import { countAll, openDatabase, type Transaction } from './client'
import { migrate } from './migrate'
import { communityPosts, type Role, services, supportTickets, users } from './schema'

/**
 * `bun run seed` (CONTRACT §10): demo data for a fresh instance, written through the features'
 * services so that it obeys the same rules (and writes the same audit rows) as the API:
 * an admin, a staff member and a few users with random passwords printed once; projects; tickets
 * in every status; posts in every moderation state, some reported; services with a history of
 * events, one of them degraded. Everything is one transaction: a failed seed leaves nothing.
 * If the demo accounts already exist it says so and exits 0 without writing anything.
 * Refuses to run with NODE_ENV=production unless given `--allow-production`.
 */

const accounts: { key: string; email: string; role: Role; fullName: string; active?: boolean }[] = [
  { key: 'admin', email: 'admin@example.com', role: 'admin', fullName: 'Ada Admin' },
  { key: 'staff', email: 'staff@example.com', role: 'staff', fullName: 'Sam Staff' },
  { key: 'alice', email: 'alice@example.com', role: 'user', fullName: 'Alice Archer' },
  { key: 'bob', email: 'bob@example.com', role: 'user', fullName: 'Bob Baker' },
  { key: 'carol', email: 'carol@example.com', role: 'user', fullName: 'Carol Chen' },
  { key: 'dave', email: 'dave@example.com', role: 'user', fullName: 'Dave Diaz', active: false },
]

function fail(message: string): never {
  console.error(`seed: ${message}`)
  process.exit(1)
}

const newPassword = () => randomBytes(18).toString('base64url')

let config: ReturnType<typeof loadConfig>
try {
  config = loadConfig(process.env)
} catch (error) {
  fail(error instanceof ConfigError ? error.message : String(error))
}
if (config.env === 'production' && !process.argv.includes('--allow-production')) {
  fail('NODE_ENV=production: demo data does not belong there (pass --allow-production if you mean it)')
}

const database = await openDatabase(config.database).catch((error: unknown) =>
  fail(`cannot open the database: ${error instanceof Error ? error.message : String(error)}`),
)
const authService = createAuthService(
  database.db,
  {
    appSecret: config.appSecret,
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    sessionTtlDays: config.sessionTtlDays,
    secureCookies: config.env === 'production',
  },
  createMetricsRegistry(),
)
try {
  await migrate(database)
  const existing = await database.db
    .select({ email: users.email })
    .from(users)
    .where(
      inArray(
        sql`lower(${users.email})`,
        accounts.map((account) => account.email),
      ),
    )
  if (existing.length > 0) {
    console.log(
      `seed: already seeded (${existing.map((row) => row.email).join(', ')} exist${existing.length === 1 ? 's' : ''}); nothing written.`,
    )
  } else {
    const passwords = new Map(accounts.map((account) => [account.key, newPassword()]))
    const summary = await database.db.transaction((tx) => seed(tx, passwords))
    const width = Math.max(...accounts.map((account) => account.email.length))
    console.log(
      [
        `NeoForge demo data loaded (${database.driver === 'pglite' ? `PGlite in ${config.dataDir}` : 'PostgreSQL'}).`,
        '',
        'Accounts (the passwords are shown this once and stored only as argon2id hashes):',
        ...accounts.map(
          (account) =>
            `  ${account.role.padEnd(5)}  ${account.email.padEnd(width)}  ${passwords.get(account.key)}${account.active === false ? '  (deactivated)' : ''}`,
        ),
        '',
        'These are demo credentials: change them before this instance is reachable by anyone else.',
        'There is no password-change endpoint yet, so create your own admin with `bun run user:create`',
        'and deactivate these accounts (PATCH /api/v1/admin/users/{id} {"is_active": false}).',
        '',
        summary,
      ].join('\n'),
    )
  }
} catch (error) {
  console.error(
    `seed: failed, nothing was written: ${error instanceof Error ? error.message : String(error)}`,
  )
  process.exitCode = 1
} finally {
  await database.close()
}

async function seed(tx: Transaction, passwords: Map<string, string>): Promise<string> {
  const client = { ip: null }
  const people = new Map<string, Viewer>()
  for (const account of accounts) {
    const row = await createUser(tx, {
      email: account.email,
      password: passwords.get(account.key) as string,
      fullName: account.fullName,
      role: account.role,
    })
    people.set(account.key, { id: row.id, role: row.role, fullName: row.fullName, email: row.email })
  }
  const who = (key: string) => people.get(key) as Viewer

  // Projects, a few per user.
  const projectNames: [string, string, string | null][] = [
    ['alice', 'Forge CLI', 'Command-line client for the NeoForge API.'],
    ['alice', 'Docs site', 'Static documentation with search.'],
    ['bob', 'Mobile app', 'iOS and Android companion app.'],
    ['bob', 'Billing export', 'Monthly CSV export for accounting.'],
    ['carol', 'Status widget', 'Embeddable service-status badge.'],
    ['dave', 'Old prototype', null],
  ]
  for (const [owner, name, description] of projectNames) {
    await createProject(tx, who(owner), { name, description })
  }

  // Tickets in every status, driven along the status machine by staff.
  const staff = who('staff')
  const ticket = async (
    owner: string | null,
    subject: string,
    message: string,
    priority: 'low' | 'normal' | 'high' | 'urgent',
    path: ('pending' | 'open' | 'resolved' | 'closed')[],
    assignee?: string,
  ) => {
    const row = await createTicket(tx, owner ? who(owner) : null, {
      email: owner ? who(owner).email : 'visitor@example.org',
      subject,
      message,
      priority,
    })
    if (assignee) await updateTicket(tx, staff, row.id, { assigneeId: who(assignee).id }, client)
    for (const status of path) await updateTicket(tx, staff, row.id, { status }, client)
  }
  await ticket('alice', 'Cannot sign in on the mobile app', 'The app says my session expired.', 'high', [])
  await ticket(null, 'Question about pricing', 'Do you offer a plan for non-profits?', 'low', [])
  await ticket(
    'bob',
    'Export is missing March',
    'The billing export skips a month.',
    'urgent',
    ['pending'],
    'staff',
  )
  await ticket(
    'carol',
    'Typo on the status page',
    '“Opertional” on the widget.',
    'normal',
    ['resolved'],
    'admin',
  )
  await ticket('alice', 'Delete my old project', 'Please remove the test project.', 'normal', [
    'pending',
    'resolved',
    'closed',
  ])

  // Posts in every moderation state; some reported.
  const post = async (author: string, title: string, content: string, premoderation = false) =>
    (await createPost(tx, who(author), { title, content }, { premoderation })).post.id
  const moderate = (id: number, status: 'published' | 'hidden' | 'rejected', reason: string) =>
    updatePost(tx, staff, id, { status, moderation_reason: reason }, client)
  const report = (reporter: string, id: number, reason: string) =>
    reportPost(tx, who(reporter), id, reason, { threshold: config.community.reportThreshold })

  await post('alice', 'Welcome to the NeoForge community', 'Introduce yourself and your projects here.')
  const tips = await post('bob', 'Tips for faster builds', 'Cache your dependencies between CI runs.')
  await report('carol', tips, 'Looks like an advertisement')
  await post('carol', 'Feature request: dark mode', 'The console is bright at night.', true)
  const spam = await post('dave', 'BUY CHEAP WIDGETS', 'Visit my shop for amazing deals!!!')
  // Reported by enough people, a published post hides itself pending review.
  const reporters = ['alice', 'bob', 'carol', 'staff', 'admin'].slice(0, config.community.reportThreshold)
  for (const reporter of reporters) await report(reporter, spam, 'Spam')
  if (reporters.length < config.community.reportThreshold) await moderate(spam, 'hidden', 'Spam')
  const offTopic = await post('bob', 'My holiday photos', 'Nothing to do with NeoForge, sorry.', true)
  await moderate(offTopic, 'rejected', 'Off-topic for this forum')
  const restored = await post('alice', 'Is the API down?', 'Requests time out since this morning.')
  await moderate(restored, 'hidden', 'Checking for personal data')
  await moderate(restored, 'published', 'Nothing sensitive; restored')

  // Services with a history; the database is degraded right now.
  const events: [string, 'operational' | 'maintenance' | 'degraded' | 'partial_outage', string | null][] = [
    ['api', 'operational', null],
    ['console', 'operational', null],
    ['email', 'maintenance', 'Moving to a new mail provider.'],
    ['email', 'operational', 'Migration finished.'],
    ['search', 'partial_outage', 'Search results are incomplete.'],
    ['search', 'operational', 'Index rebuilt.'],
    ['database', 'operational', null],
    ['database', 'degraded', 'Elevated query latency on the primary.'],
  ]
  for (const [service, status, description] of events) {
    await recordEvent(tx, staff.id, { service, status, description })
  }

  // Dave is deactivated by the admin, through the same service as PATCH /admin/users/{id}.
  const admin = who('admin')
  const adminPrincipal: Principal = {
    user: { id: admin.id, email: admin.email, role: 'admin', fullName: admin.fullName },
    session: { id: crypto.randomUUID(), kind: 'bearer', luciaId: '', refreshedCookie: null },
  }
  for (const account of accounts.filter((entry) => entry.active === false)) {
    await updateUser(tx, authService, adminPrincipal, who(account.key).id, { is_active: false }, client)
  }

  const countBy = async (table: typeof supportTickets | typeof communityPosts | typeof services) => {
    const rows = await tx
      .select({ status: table.status, total: countAll })
      .from(table)
      .groupBy(table.status)
      .orderBy(table.status)
    return rows.map((row) => `${row.status} ${row.total}`).join(', ')
  }
  const [reported] = await tx
    .select({ total: countAll })
    .from(communityPosts)
    .where(gt(communityPosts.reportCount, 0))
  return [
    `Loaded: ${accounts.length} accounts, ${projectNames.length} projects;`,
    `tickets: ${await countBy(supportTickets)};`,
    `posts: ${await countBy(communityPosts)} (${reported?.total ?? 0} reported);`,
    `services: ${await countBy(services)}.`,
  ].join('\n')
}
