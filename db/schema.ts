import { sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  check,
  index,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'

/** The single source of truth for NeoForge's tables; drizzle-kit derives every migration from it. */

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
  },
  (table) => [
    uniqueIndex('users_email_key').on(sql`lower(${table.email})`),
    index('users_created_at_idx').on(table.createdAt.desc(), table.id.desc()),
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
    index('user_sessions_user_created_idx').on(table.userId, table.createdAt.desc(), table.id.desc()),
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
    index('audit_log_at_idx').on(table.at.desc(), table.id.desc()),
    index('audit_log_actor_idx').on(table.actorId, table.at.desc()),
    index('audit_log_action_idx').on(table.action, table.at.desc()),
    index('audit_log_target_idx').on(table.target, table.at.desc()),
  ],
)
