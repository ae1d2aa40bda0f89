import { sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'

/**
 * The single source of truth for NeoForge's tables; drizzle-kit derives every migration from it.
 *
 * Descending index columns are declared `desc().nullsFirst()`: that is what a plain
 * `ORDER BY x DESC` means in PostgreSQL, and drizzle's default (`DESC NULLS LAST`) would not match
 * it, leaving the planner to sort the whole table instead of reading the index in order.
 */

export const roles = ['user', 'staff', 'admin'] as const
export type Role = (typeof roles)[number]

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    // Stored lower-cased so that equality is case-insensitive; the unique index enforces it.
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    fullName: text('full_name'),
    role: text('role').$type<Role>().notNull().default('user'),
    isActive: boolean('is_active').notNull().default(true),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
    lastLoginAt: timestamptz('last_login_at'),
    /** Row version: bumped by every update, the source of the strong ETag (CONTRACT §4). */
    version: integer('version').notNull().default(1),
  },
  (table) => [
    uniqueIndex('users_email_key').on(sql`lower(${table.email})`),
    index('users_email_trgm_idx').using('gin', sql`lower(${table.email}) gin_trgm_ops`),
    index('users_created_at_idx').on(table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    check('users_role_check', sql`${table.role} in ('user', 'staff', 'admin')`),
  ],
)

export const sessionKinds = ['bearer', 'cookie'] as const
export type SessionKind = (typeof sessionKinds)[number]

/**
 * A sign-in. `id` is the public handle shown in listings; `token_hash` is lucia's session id, the
 * SHA-256 of the session secret, so the secret itself is never stored.
 */
export const userSessions = pgTable(
  'user_sessions',
  {
    id: uuid('id').primaryKey(),
    tokenHash: text('token_hash').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    kind: text('kind').$type<SessionKind>().notNull(),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    lastUsedAt: timestamptz('last_used_at').notNull().defaultNow(),
    expiresAt: timestamptz('expires_at').notNull(),
    revokedAt: timestamptz('revoked_at'),
    userAgent: text('user_agent'),
    ip: text('ip'),
  },
  (table) => [
    uniqueIndex('user_sessions_token_hash_key').on(table.tokenHash),
    index('user_sessions_user_created_idx').on(
      table.userId,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('user_sessions_expires_at_idx').on(table.expiresAt),
    check('user_sessions_kind_check', sql`${table.kind} in ('bearer', 'cookie')`),
  ],
)

/**
 * Refresh tokens, by hash. A token is single-use: `used_at` is set when it is rotated, and a
 * second presentation of a used token is the reuse that revokes its session.
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => userSessions.id, { onDelete: 'cascade' }),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    usedAt: timestamptz('used_at'),
  },
  (table) => [index('refresh_tokens_session_idx').on(table.sessionId)],
)

export const auditLog = pgTable(
  'audit_log',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    at: timestamptz('at').notNull().defaultNow(),
    actorId: uuid('actor_id').references(() => users.id, { onDelete: 'set null' }),
    action: text('action').notNull(),
    target: text('target'),
    ip: text('ip'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (table) => [
    index('audit_log_at_idx').on(table.at.desc().nullsFirst(), table.id.desc().nullsFirst()),
    index('audit_log_actor_idx').on(table.actorId, table.at.desc().nullsFirst()),
    index('audit_log_action_idx').on(table.action, table.at.desc().nullsFirst()),
    index('audit_log_target_idx').on(table.target, table.at.desc().nullsFirst()),
  ],
)

/** Columns every mutable resource has: timestamps and the row version behind its ETag. */
const mutableColumns = () => ({
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  version: integer('version').notNull().default(1),
})

export const projects = pgTable(
  'projects',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    ...mutableColumns(),
  },
  (table) => [
    index('projects_created_idx').on(table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    index('projects_owner_created_idx').on(
      table.ownerId,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('projects_owner_updated_idx').on(
      table.ownerId,
      table.updatedAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('projects_owner_name_idx').on(table.ownerId, table.name, table.id),
    index('projects_name_trgm_idx').using('gin', sql`lower(${table.name}) gin_trgm_ops`),
  ],
)

export const ticketStatuses = ['open', 'pending', 'resolved', 'closed'] as const
export type TicketStatus = (typeof ticketStatuses)[number]
export const ticketPriorities = ['low', 'normal', 'high', 'urgent'] as const
export type TicketPriority = (typeof ticketPriorities)[number]

export const supportTickets = pgTable(
  'support_tickets',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    email: text('email').notNull(),
    subject: text('subject').notNull(),
    message: text('message').notNull(),
    status: text('status').$type<TicketStatus>().notNull().default('open'),
    priority: text('priority').$type<TicketPriority>().notNull().default('normal'),
    assigneeId: uuid('assignee_id').references(() => users.id, { onDelete: 'set null' }),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    ...mutableColumns(),
  },
  (table) => [
    index('support_tickets_created_idx').on(
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('support_tickets_status_created_idx').on(
      table.status,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('support_tickets_priority_created_idx').on(
      table.priority,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('support_tickets_assignee_created_idx').on(
      table.assigneeId,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('support_tickets_user_created_idx').on(
      table.userId,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('support_tickets_subject_trgm_idx').using('gin', sql`lower(${table.subject}) gin_trgm_ops`),
    check('support_tickets_status_check', sql`${table.status} in ('open', 'pending', 'resolved', 'closed')`),
    check('support_tickets_priority_check', sql`${table.priority} in ('low', 'normal', 'high', 'urgent')`),
  ],
)

export const postStatuses = ['pending', 'published', 'hidden', 'rejected'] as const
export type PostStatus = (typeof postStatuses)[number]

export const communityPosts = pgTable(
  'community_posts',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    authorId: uuid('author_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    content: text('content').notNull(),
    status: text('status').$type<PostStatus>().notNull(),
    reportCount: integer('report_count').notNull().default(0),
    moderationReason: text('moderation_reason'),
    moderatedBy: uuid('moderated_by').references(() => users.id, { onDelete: 'set null' }),
    moderatedAt: timestamptz('moderated_at'),
    ...mutableColumns(),
  },
  (table) => [
    index('community_posts_status_created_idx').on(
      table.status,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('community_posts_created_idx').on(
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('community_posts_author_created_idx').on(
      table.authorId,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('community_posts_reported_idx')
      .on(table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst())
      .where(sql`${table.reportCount} > 0`),
    index('community_posts_title_trgm_idx').using('gin', sql`lower(${table.title}) gin_trgm_ops`),
    check(
      'community_posts_status_check',
      sql`${table.status} in ('pending', 'published', 'hidden', 'rejected')`,
    ),
  ],
)

/** One report per user and post: the primary key makes a second report a conflict. */
export const postReports = pgTable(
  'post_reports',
  {
    postId: integer('post_id')
      .notNull()
      .references(() => communityPosts.id, { onDelete: 'cascade' }),
    reporterId: uuid('reporter_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    reason: text('reason').notNull(),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.postId, table.reporterId] })],
)

export const serviceStatuses = [
  'operational',
  'maintenance',
  'degraded',
  'partial_outage',
  'major_outage',
] as const
export type ServiceStatus = (typeof serviceStatuses)[number]

/** The append-only history of status changes, per service. */
export const statusEvents = pgTable(
  'status_events',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    service: text('service').notNull(),
    status: text('status').$type<ServiceStatus>().notNull(),
    description: text('description'),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
  },
  (table) => [
    index('status_events_service_created_idx').on(
      table.service,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('status_events_created_idx').on(table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    check(
      'status_events_status_check',
      sql`${table.status} in ('operational', 'maintenance', 'degraded', 'partial_outage', 'major_outage')`,
    ),
  ],
)

/**
 * The current status of each service, kept in step with `status_events` in the same transaction,
 * so that `GET /status` reads one small table. `since` moves only when the status changes.
 */
export const services = pgTable(
  'services',
  {
    service: text('service').primaryKey(),
    status: text('status').$type<ServiceStatus>().notNull(),
    description: text('description'),
    since: timestamptz('since').notNull(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
    version: integer('version').notNull().default(1),
  },
  (table) => [
    check(
      'services_status_check',
      sql`${table.status} in ('operational', 'maintenance', 'degraded', 'partial_outage', 'major_outage')`,
    ),
  ],
)

/**
 * Stored responses of Idempotency-Keys (CONTRACT §5), written in the same transaction as the
 * business write they answer; the primary key is the caller's scope, method, path and key.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    scope: text('scope').notNull(),
    method: text('method').notNull(),
    path: text('path').notNull(),
    key: text('key').notNull(),
    fingerprint: text('fingerprint').notNull(),
    // A row is written only with its response, in the business write's transaction; while that
    // runs, the key is held by a transaction-scoped advisory lock (server/http/idempotency.ts).
    completedAt: timestamptz('completed_at').notNull().defaultNow(),
    responseStatus: integer('response_status').notNull(),
    responseHeaders: jsonb('response_headers').$type<Record<string, string>>().notNull(),
    responseBody: text('response_body').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.scope, table.method, table.path, table.key] }),
    index('idempotency_keys_expires_idx').on(table.expiresAt),
  ],
)

/**
 * Exact totals of the default lists (CONTRACT §3), so that a page's `total` reads a few rows
 * instead of counting the table. Statement-level triggers on `projects` and `community_posts`
 * (migration 0007) add each statement's net change in the same transaction as the rows. A scope's
 * total is the sum of its slots: each writing transaction adds to slot `txid % 64`, so concurrent
 * writers of one scope seldom queue on the same row lock.
 *
 * Scopes: `projects`, `projects:owner:<user id>`, `posts`, `posts:status:<status>`.
 */
export const listCounts = pgTable(
  'list_counts',
  {
    scope: text('scope').notNull(),
    slot: smallint('slot').notNull(),
    n: bigint('n', { mode: 'number' }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.scope, table.slot] })],
)

/** The scopes the triggers of migration 0007 keep, by name. */
export const countScopes = {
  projects: 'projects',
  projectsOf: (ownerId: string) => `projects:owner:${ownerId}`,
  posts: 'posts',
  postsIn: (status: PostStatus) => `posts:status:${status}`,
}

/** Fixed-window request counters shared by every instance (CONTRACT §6). */
export const rateLimitCounters = pgTable(
  'rate_limit_counters',
  {
    bucket: text('bucket').notNull(),
    windowStart: timestamptz('window_start').notNull(),
    count: integer('count').notNull().default(0),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.bucket, table.windowStart] }),
    index('rate_limit_counters_expires_idx').on(table.expiresAt),
  ],
)

/** One row per job and schedule slot: the unique key makes each slot run once across instances. */
export const cronRuns = pgTable(
  'cron_runs',
  {
    job: text('job').notNull(),
    slot: timestamptz('slot').notNull(),
    startedAt: timestamptz('started_at').notNull().defaultNow(),
    finishedAt: timestamptz('finished_at'),
    outcome: text('outcome'),
    detail: jsonb('detail').$type<Record<string, unknown>>(),
  },
  (table) => [primaryKey({ columns: [table.job, table.slot] })],
)

/** The latest CSP violation reports, for the console (pruned by cron). */
export const cspReports = pgTable(
  'csp_reports',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    receivedAt: timestamptz('received_at').notNull().defaultNow(),
    documentUri: text('document_uri'),
    blockedUri: text('blocked_uri'),
    directive: text('directive').notNull(),
    disposition: text('disposition'),
    sourceFile: text('source_file'),
    lineNumber: integer('line_number'),
    columnNumber: integer('column_number'),
    sample: text('sample'),
    userAgent: text('user_agent'),
    ip: text('ip'),
    raw: jsonb('raw').$type<Record<string, unknown>>().notNull(),
  },
  (table) => [
    index('csp_reports_received_idx').on(table.receivedAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    index('csp_reports_directive_idx').on(table.directive, table.receivedAt.desc().nullsFirst()),
  ],
)
