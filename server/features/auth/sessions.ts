import { and, eq, isNull, lte, or, sql } from 'drizzle-orm'
import { type Adapter, type DatabaseSession, type DatabaseUser, Lucia, TimeSpan } from 'lucia'
import type { Executor } from '../../../db/client'
import { prepared } from '../../../db/query'
import { type Role, type SessionKind, userSessions, users } from '../../../db/schema'
import type { PreloadRequest } from '../../http/auth'

/**
 * lucia v3 owns the session lifecycle: ids, expiry and its sliding extension, validation, cookies.
 * Its session id is the SHA-256 of the session token (`token_hash`); the row's `id` is a separate
 * public handle. "Deleting" a session through lucia marks it revoked, so listings keep history.
 */
export interface SessionAttributes {
  public_id: string
  kind: SessionKind
  user_agent: string | null
  ip: string | null
  created_at: Date
  last_used_at: Date
  /** The row a `PreloadRequest` asked for, read with the session (absent without one). */
  preloaded?: unknown
}

export interface UserAttributes {
  email: string
  full_name: string | null
  role: Role
  is_active: boolean
}

export type SessionLucia = Lucia<SessionAttributes, UserAttributes>

declare module 'lucia' {
  interface Register {
    Lucia: SessionLucia
    DatabaseSessionAttributes: SessionAttributes
    DatabaseUserAttributes: UserAttributes
    UserId: string
  }
}

export const SESSION_COOKIE = 'neoforge_session'

export class DrizzleSessionAdapter implements Adapter {
  /** With `preload`, the session lookup also reads that row (a left join on its key). */
  constructor(
    private readonly db: Executor,
    private readonly preload?: PreloadRequest,
  ) {}

  /** Runs on every authenticated request: each variant is built once per database handle. */
  async getSessionAndUser(sessionId: string): Promise<[DatabaseSession | null, DatabaseUser | null]> {
    const { db } = this
    const preload = this.preload?.preload
    const name = preload ? `session_and_${preload.name}` : 'session_and_user'
    const query = prepared(db, name, () => {
      const lookup = db
        .select({ session: userSessions, user: users, ...(preload ? { preloaded: preload.table } : {}) })
        .from(userSessions)
        .innerJoin(users, eq(users.id, userSessions.userId))
        .$dynamic()
      return (preload ? lookup.leftJoin(preload.table, eq(preload.key, sql.placeholder('key'))) : lookup)
        .where(and(eq(userSessions.tokenHash, sql.placeholder('tokenHash')), isNull(userSessions.revokedAt)))
        .limit(1)
        .prepare(name)
    })
    const [row] = (await query.execute({ tokenHash: sessionId, key: this.preload?.key })) as {
      session: typeof userSessions.$inferSelect
      user: typeof users.$inferSelect
      preloaded?: unknown
    }[]
    if (!row) return [null, null]
    const session = toDatabaseSession(row.session)
    if (preload) session.attributes.preloaded = row.preloaded
    return [session, toDatabaseUser(row.user)]
  }

  async getUserSessions(userId: string): Promise<DatabaseSession[]> {
    const rows = await this.db
      .select()
      .from(userSessions)
      .where(and(eq(userSessions.userId, userId), isNull(userSessions.revokedAt)))
    return rows.map(toDatabaseSession)
  }

  async setSession(session: DatabaseSession): Promise<void> {
    const { attributes } = session
    await this.db.insert(userSessions).values({
      id: attributes.public_id,
      tokenHash: session.id,
      userId: session.userId,
      kind: attributes.kind,
      userAgent: attributes.user_agent,
      ip: attributes.ip,
      createdAt: attributes.created_at,
      lastUsedAt: attributes.last_used_at,
      expiresAt: session.expiresAt,
    })
  }

  async updateSessionExpiration(sessionId: string, expiresAt: Date): Promise<void> {
    await this.db.update(userSessions).set({ expiresAt }).where(eq(userSessions.tokenHash, sessionId))
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.db
      .update(userSessions)
      .set({ revokedAt: sql`now()` })
      .where(and(eq(userSessions.tokenHash, sessionId), isNull(userSessions.revokedAt)))
  }

  async deleteUserSessions(userId: string): Promise<void> {
    await this.db
      .update(userSessions)
      .set({ revokedAt: sql`now()` })
      .where(and(eq(userSessions.userId, userId), isNull(userSessions.revokedAt)))
  }

  /** Really deletes: rows that expired or were revoked long enough ago to be of no more use. */
  async deleteExpiredSessions(): Promise<void> {
    await this.db
      .delete(userSessions)
      .where(
        or(
          lte(userSessions.expiresAt, sql`now()`),
          lte(userSessions.revokedAt, sql`now() - interval '30 days'`),
        ),
      )
  }
}

function toDatabaseSession(row: typeof userSessions.$inferSelect): DatabaseSession {
  return {
    id: row.tokenHash,
    userId: row.userId,
    expiresAt: row.expiresAt,
    attributes: {
      public_id: row.id,
      kind: row.kind,
      user_agent: row.userAgent,
      ip: row.ip,
      created_at: row.createdAt,
      last_used_at: row.lastUsedAt,
    },
  }
}

function toDatabaseUser(row: typeof users.$inferSelect): DatabaseUser {
  return {
    id: row.id,
    attributes: { email: row.email, full_name: row.fullName, role: row.role, is_active: row.isActive },
  }
}

/** A lucia bound to `db`, or to an open transaction so that session writes commit with the rest. */
export function createLucia(
  db: Executor,
  options: { sessionTtlDays: number; secureCookies: boolean },
  preload?: PreloadRequest,
): SessionLucia {
  return new Lucia(new DrizzleSessionAdapter(db, preload), {
    sessionExpiresIn: new TimeSpan(options.sessionTtlDays, 'd'),
    sessionCookie: {
      name: SESSION_COOKIE,
      expires: true,
      attributes: { sameSite: 'strict', secure: options.secureCookies, path: '/' },
    },
    getSessionAttributes: (attributes) => attributes,
    getUserAttributes: (attributes) => attributes,
  })
}
