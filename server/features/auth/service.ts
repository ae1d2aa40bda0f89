import { and, desc, eq, gt, isNull, lt, ne, sql } from 'drizzle-orm'
import type { Database, Executor } from '../../../db/client'
import { countAll } from '../../../db/client'
import { refreshTokens, type SessionKind, userSessions, users } from '../../../db/schema'
import type { PreloadRequest, Principal } from '../../http/auth'
import type { MetricsRegistry } from '../../http/metrics'
import { type PageRequest, page } from '../../http/pagination'
import { forbidden, HttpError, notFound, unauthenticated } from '../../http/problem'
import { recordAudit, target } from '../audit/service'
import { findUserByEmail, normalizeEmail, verifyPassword } from '../users/service'
import { createLucia, type SessionLucia } from './sessions'
import { accessTokenSealer, newRefreshToken, newSessionToken, sha256Hex } from './tokens'

export interface AuthSettings {
  appSecret: string
  accessTokenTtlSeconds: number
  sessionTtlDays: number
  secureCookies: boolean
}

export interface ClientInfo {
  ip: string
  userAgent: string | null
}

export interface TokenPair {
  access_token: string
  token_type: 'bearer'
  expires_in: number
  refresh_token: string
  session_id: string
}

/** Wrong email and wrong password must be indistinguishable: one error for both. */
const invalidCredentials = () =>
  new HttpError(401, 'invalid_credentials', 'The email or password is not correct.')
const invalidRefreshToken = () =>
  new HttpError(401, 'invalid_refresh_token', 'The refresh token is invalid, expired or already used.')
const TOUCH_INTERVAL_MS = 60_000

export type AuthService = ReturnType<typeof createAuthService>

export const loginOutcomes = ['success', 'unknown_email', 'wrong_password', 'account_disabled'] as const

export function createAuthService(db: Database, settings: AuthSettings, registry: MetricsRegistry) {
  const logins = registry.counter('auth_logins_total', 'Sign-in attempts (token and console), by outcome.', [
    'outcome',
  ])
  for (const outcome of loginOutcomes) logins.init({ outcome })
  const luciaOptions = { sessionTtlDays: settings.sessionTtlDays, secureCookies: settings.secureCookies }
  const lucia = createLucia(db, luciaOptions)
  const luciaIn = (tx: Executor): SessionLucia => createLucia(tx, luciaOptions)
  const sealer = accessTokenSealer(settings.appSecret)
  const sessionTtlMs = settings.sessionTtlDays * 86_400_000

  /** An access token for a session token, never outliving the session itself. */
  function accessToken(sessionToken: string, userId: string, sessionExpiresAt: Date) {
    const expiresAt = new Date(
      Math.min(Date.now() + settings.accessTokenTtlSeconds * 1000, sessionExpiresAt.getTime()),
    )
    return {
      token: sealer.seal({ sessionToken, userId }, expiresAt),
      expiresIn: Math.floor((expiresAt.getTime() - Date.now()) / 1000),
    }
  }

  async function issueRefreshToken(tx: Executor, sessionId: string): Promise<string> {
    const refreshToken = newRefreshToken()
    await tx.insert(refreshTokens).values({ tokenHash: sha256Hex(refreshToken), sessionId })
    return refreshToken
  }

  /**
   * Checks the password and opens a session of `kind`, writing the session, the login time and
   * the audit row in one transaction. Failures are audited too, then answered with one 401.
   */
  async function login(input: { email: string; password: string; kind: SessionKind }, client: ClientInfo) {
    const user = await findUserByEmail(db, input.email)
    const passwordMatches = await verifyPassword(input.password, user?.passwordHash)
    if (!user || !passwordMatches || !user.isActive) {
      const reason = !user ? 'unknown_email' : !passwordMatches ? 'wrong_password' : 'account_disabled'
      logins.inc({ outcome: reason })
      await recordAudit(db, {
        actorId: user?.id ?? null,
        action: 'auth.login_failed',
        target: user ? target('user', user.id) : null,
        ip: client.ip,
        details: { email: normalizeEmail(input.email), reason },
      })
      if (reason === 'account_disabled') throw forbidden('This account is deactivated.', 'account_disabled')
      throw invalidCredentials()
    }

    const sessionToken = newSessionToken()
    const opened = await db.transaction(async (tx) => {
      const now = new Date()
      const session = await luciaIn(tx).createSession(
        user.id,
        {
          public_id: crypto.randomUUID(),
          kind: input.kind,
          user_agent: client.userAgent?.slice(0, 512) ?? null,
          ip: client.ip,
          created_at: now,
          last_used_at: now,
        },
        { sessionId: sha256Hex(sessionToken) },
      )
      const [updated] = await tx
        .update(users)
        .set({ lastLoginAt: now })
        .where(eq(users.id, user.id))
        .returning()
      await recordAudit(tx, {
        actorId: user.id,
        action: 'auth.login',
        target: target('session', session.public_id),
        ip: client.ip,
        details: { kind: input.kind, user_agent: client.userAgent },
      })
      const refreshToken = input.kind === 'bearer' ? await issueRefreshToken(tx, session.public_id) : null
      return { user: updated ?? user, session, sessionToken, refreshToken }
    })
    logins.inc({ outcome: 'success' })
    return opened
  }

  async function issueTokens(
    input: { email: string; password: string },
    client: ClientInfo,
  ): Promise<TokenPair> {
    const { session, sessionToken, refreshToken } = await login({ ...input, kind: 'bearer' }, client)
    const access = accessToken(sessionToken, session.userId, session.expiresAt)
    return {
      access_token: access.token,
      token_type: 'bearer',
      expires_in: access.expiresIn,
      refresh_token: refreshToken as string,
      session_id: session.public_id,
    }
  }

  /**
   * Rotates a refresh token: the presented one is spent, and the session gets a new secret (so
   * older access tokens die with the old refresh token) and a new refresh token. A spent token
   * presented again is reuse: the whole session is revoked and audited.
   */
  async function refresh(presented: string, client: ClientInfo): Promise<TokenPair> {
    const outcome = await db.transaction(async (tx) => {
      const tokenHash = sha256Hex(presented)
      const [spent] = await tx
        .update(refreshTokens)
        .set({ usedAt: sql`now()` })
        .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.usedAt)))
        .returning({ sessionId: refreshTokens.sessionId })
      if (!spent) {
        const [reused] = await tx
          .select({
            sessionId: refreshTokens.sessionId,
            userId: userSessions.userId,
            revokedAt: userSessions.revokedAt,
          })
          .from(refreshTokens)
          .innerJoin(userSessions, eq(userSessions.id, refreshTokens.sessionId))
          .where(eq(refreshTokens.tokenHash, tokenHash))
        if (reused) {
          await revokeWhere(tx, eq(userSessions.id, reused.sessionId))
          await recordAudit(tx, {
            actorId: reused.userId,
            action: 'auth.refresh_reuse',
            target: target('session', reused.sessionId),
            ip: client.ip,
            details: { already_revoked: reused.revokedAt !== null },
          })
        }
        return null
      }
      const [session] = await tx
        .select({ session: userSessions, isActive: users.isActive })
        .from(userSessions)
        .innerJoin(users, eq(users.id, userSessions.userId))
        .where(eq(userSessions.id, spent.sessionId))
        .for('update', { of: userSessions })
      if (
        !session ||
        session.session.revokedAt ||
        session.session.expiresAt <= new Date() ||
        !session.isActive
      ) {
        return null
      }
      const sessionToken = newSessionToken()
      const expiresAt = new Date(Date.now() + sessionTtlMs)
      await tx
        .update(userSessions)
        .set({ tokenHash: sha256Hex(sessionToken), lastUsedAt: sql`now()`, expiresAt, ip: client.ip })
        .where(eq(userSessions.id, spent.sessionId))
      const refreshToken = await issueRefreshToken(tx, spent.sessionId)
      return {
        sessionId: spent.sessionId,
        userId: session.session.userId,
        sessionToken,
        refreshToken,
        expiresAt,
      }
    })
    if (!outcome) throw invalidRefreshToken()
    const access = accessToken(outcome.sessionToken, outcome.userId, outcome.expiresAt)
    return {
      access_token: access.token,
      token_type: 'bearer',
      expires_in: access.expiresIn,
      refresh_token: outcome.refreshToken,
      session_id: outcome.sessionId,
    }
  }

  /**
   * Resolves the caller from a bearer access token or the session cookie. A credential that is
   * present but not valid is an error (401), not an anonymous request.
   */
  async function authenticate(
    credential: { bearer?: string; cookie?: string },
    preload?: PreloadRequest,
  ): Promise<{ principal: Principal; preloaded?: unknown }> {
    const sessionToken =
      credential.bearer !== undefined ? sealer.open(credential.bearer)?.sessionToken : credential.cookie
    if (!sessionToken) throw unauthenticated('The access token is invalid or expired.')
    // lucia still validates (expiry, sliding extension); a preload needs an adapter of its own.
    const validator = preload ? createLucia(db, luciaOptions, preload) : lucia
    const { session, user } = await validator.validateSession(sha256Hex(sessionToken))
    if (!session || !user.is_active) throw unauthenticated('The session has ended; sign in again.')
    if (Date.now() - session.last_used_at.getTime() > TOUCH_INTERVAL_MS) {
      // Concurrent requests all see the stale time; only the first of them writes.
      await db
        .update(userSessions)
        .set({ lastUsedAt: sql`now()` })
        .where(
          and(
            eq(userSessions.id, session.public_id),
            lt(userSessions.lastUsedAt, sql`now() - make_interval(secs => ${TOUCH_INTERVAL_MS / 1000})`),
          ),
        )
    }
    const principal: Principal = {
      user: { id: user.id, email: user.email, role: user.role, fullName: user.full_name },
      session: {
        id: session.public_id,
        kind: session.kind,
        luciaId: session.id,
        // A cookie session whose expiry lucia just extended needs its cookie set again.
        refreshedCookie:
          session.fresh && session.kind === 'cookie'
            ? lucia.createSessionCookie(sessionToken).serialize()
            : null,
      },
    }
    return preload ? { principal, preloaded: session.preloaded } : { principal }
  }

  async function revokeWhere(tx: Executor, where: ReturnType<typeof eq>) {
    return tx
      .update(userSessions)
      .set({ revokedAt: sql`now()` })
      .where(and(where, isNull(userSessions.revokedAt)))
      .returning({ id: userSessions.id })
  }

  /** Ends the caller's own session (logout, cookie sign-out). */
  async function logout(principal: Principal, client: ClientInfo): Promise<void> {
    await db.transaction(async (tx) => {
      await luciaIn(tx).invalidateSession(principal.session.luciaId)
      await recordAudit(tx, {
        actorId: principal.user.id,
        action: 'session.revoke',
        target: target('session', principal.session.id),
        ip: client.ip,
        details: { reason: 'logout' },
      })
    })
  }

  async function listSessions(
    userId: string,
    options: { includeRevoked: boolean; currentSessionId: string | null },
    request: PageRequest,
  ) {
    const where = and(
      eq(userSessions.userId, userId),
      options.includeRevoked
        ? undefined
        : and(isNull(userSessions.revokedAt), gt(userSessions.expiresAt, sql`now()`)),
    )
    const [rows, [counted]] = await Promise.all([
      db
        .select()
        .from(userSessions)
        .where(where)
        .orderBy(desc(userSessions.createdAt), desc(userSessions.id))
        .limit(request.pageSize)
        .offset(request.offset),
      db.select({ total: countAll }).from(userSessions).where(where),
    ])
    return page(
      rows.map((row) => toSessionView(row, options.currentSessionId)),
      counted?.total ?? 0,
      request,
    )
  }

  /**
   * Revokes one session of `ownerId` (the caller's own, or any user's for staff); a session of
   * someone else is 404, so ids of other people's sessions cannot be probed. Idempotent. `via`
   * is the caller's transaction when the revocation must commit with something else.
   */
  async function revokeSession(
    actor: Principal,
    sessionId: string,
    scope: { ownerId: string | null },
    client: ClientInfo,
    via: Executor = db,
  ) {
    return via.transaction(async (tx) => {
      const [session] = await tx
        .select()
        .from(userSessions)
        .where(
          and(
            eq(userSessions.id, sessionId),
            scope.ownerId ? eq(userSessions.userId, scope.ownerId) : undefined,
          ),
        )
        .for('update')
      if (!session) throw notFound('No such session.')
      if (session.revokedAt) return toSessionView(session, actor.session.id)
      const [revoked] = await tx
        .update(userSessions)
        .set({ revokedAt: sql`now()` })
        .where(eq(userSessions.id, sessionId))
        .returning()
      await recordAudit(tx, {
        actorId: actor.user.id,
        action: 'session.revoke',
        target: target('session', sessionId),
        ip: client.ip,
        details: {
          user_id: session.userId,
          before: { revoked_at: null },
          after: { revoked_at: revoked?.revokedAt?.toISOString() },
        },
      })
      return toSessionView(revoked ?? session, actor.session.id)
    })
  }

  async function revokeOtherSessions(
    actor: Principal,
    client: ClientInfo,
  ): Promise<{ revoked_count: number }> {
    return db.transaction(async (tx) => {
      const revoked = await revokeWhere(
        tx,
        and(eq(userSessions.userId, actor.user.id), ne(userSessions.id, actor.session.id)) as ReturnType<
          typeof eq
        >,
      )
      if (revoked.length > 0) {
        await recordAudit(tx, {
          actorId: actor.user.id,
          action: 'session.revoke_others',
          target: target('user', actor.user.id),
          ip: client.ip,
          details: { revoked_count: revoked.length, session_ids: revoked.map((row) => row.id) },
        })
      }
      return { revoked_count: revoked.length }
    })
  }

  /** Every session of a user, in the caller's transaction (deactivation, admin revoke-all). */
  async function revokeAllSessionsIn(tx: Executor, userId: string): Promise<string[]> {
    const revoked = await revokeWhere(tx, eq(userSessions.userId, userId))
    return revoked.map((row) => row.id)
  }

  /**
   * The user a bearer token names, from the seal alone (no database read, session not checked):
   * good enough to key a rate limit by principal, never to authorize.
   */
  function claimedUserId(bearer: string): string | null {
    return sealer.open(bearer)?.userId ?? null
  }

  return {
    lucia,
    claimedUserId,
    login,
    issueTokens,
    refresh,
    authenticate,
    logout,
    listSessions,
    revokeSession,
    revokeOtherSessions,
    revokeAllSessionsIn,
  }
}

export function toSessionView(row: typeof userSessions.$inferSelect, currentSessionId: string | null) {
  return {
    id: row.id,
    created_at: row.createdAt.toISOString(),
    last_used_at: row.lastUsedAt.toISOString(),
    user_agent: row.userAgent,
    ip: row.ip,
    expires_at: row.expiresAt.toISOString(),
    revoked_at: row.revokedAt?.toISOString() ?? null,
    is_current: row.id === currentSessionId,
    kind: row.kind,
  }
}
