import { and, asc, desc, eq, gt, inArray, isNotNull, isNull, lte, or, type SQL, sql } from 'drizzle-orm'
import { countAll, type Executor } from '../../../db/client'
import { bumpVersion, containsText } from '../../../db/query'
import { type Role, userSessions, users } from '../../../db/schema'
import type { Principal } from '../../http/auth'
import { assertIfMatch, type IfMatch } from '../../http/conditional'
import { type PageRequest, page } from '../../http/pagination'
import { conflict, forbidden, notFound } from '../../http/problem'
import { recordAudit, target } from '../audit/service'
import type { AuthService, ClientInfo } from '../auth/service'
import { toSessionView } from '../auth/service'
import { toUserView, type UserModel } from '../users/model'
import { normalizeEmail } from '../users/service'
import type { AdminModel } from './model'

/**
 * CONTRACT §8 admin: user management (admin) and every user's sessions (staff). Sessions are
 * revoked through the auth service; each change and its audit row commit in one transaction.
 */

export interface UserFilters {
  q?: string
  role?: Role
  isActive?: boolean
  sort?: AdminModel.UserSort
}

function userOrder(sort: AdminModel.UserSort = '-created_at'): SQL[] {
  const descending = sort.startsWith('-')
  const field = descending ? sort.slice(1) : sort
  const direction = descending ? desc : asc
  if (field === 'last_login_at') {
    // Accounts that never signed in go last in both directions.
    return [sql`${users.lastLoginAt} ${sql.raw(descending ? 'desc' : 'asc')} nulls last`, direction(users.id)]
  }
  return [direction(field === 'email' ? users.email : users.createdAt), direction(users.id)]
}

export async function listUsers(db: Executor, filters: UserFilters, request: PageRequest) {
  const where = and(
    filters.q ? containsText(users.email, filters.q) : undefined,
    filters.role ? eq(users.role, filters.role) : undefined,
    filters.isActive !== undefined ? eq(users.isActive, filters.isActive) : undefined,
  )
  const [rows, [counted]] = await Promise.all([
    db
      .select()
      .from(users)
      .where(where)
      .orderBy(...userOrder(filters.sort))
      .limit(request.pageSize)
      .offset(request.offset),
    db.select({ total: countAll }).from(users).where(where),
  ])
  return page(rows.map(toUserView), counted?.total ?? 0, request)
}

/**
 * Changes a user's role and/or active flag, in the caller's transaction (the one that also stores
 * the idempotent response). The actor must still be an active admin when the change commits (both
 * rows are locked, in id order, so two admins demoting each other at once cannot leave the system
 * without one), and may neither demote nor deactivate themselves. `If-Match` is checked against the
 * locked row. A field set to its current value changes nothing: no version bump, no audit row.
 */
export async function updateUser(
  tx: Executor,
  authService: AuthService,
  actor: Principal,
  userId: string,
  patch: AdminModel.UserPatch,
  client: { ip: string | null },
  ifMatch: IfMatch = null,
): Promise<{ user: UserModel.User; version: number }> {
  const self = actor.user.id === userId
  if (self && ((patch.role !== undefined && patch.role !== 'admin') || patch.is_active === false)) {
    throw conflict(
      'Admins cannot demote or deactivate themselves; ask another admin, so that one always remains.',
      'cannot_modify_self',
    )
  }
  const locked = await tx
    .select()
    .from(users)
    .where(inArray(users.id, [...new Set([actor.user.id, userId])]))
    .orderBy(asc(users.id))
    .for('update')
  const current = locked.find((row) => row.id === userId)
  const actorRow = locked.find((row) => row.id === actor.user.id)
  if (actorRow?.role !== 'admin' || !actorRow.isActive) {
    throw forbidden('This needs the admin role.')
  }
  if (!current) throw notFound('No such user.')
  assertIfMatch(ifMatch, current.version)

  const roleChanges = patch.role !== undefined && patch.role !== current.role
  const activeChanges = patch.is_active !== undefined && patch.is_active !== current.isActive
  if (!roleChanges && !activeChanges) return { user: toUserView(current), version: current.version }

  const [updated] = await tx
    .update(users)
    .set({
      ...(roleChanges ? { role: patch.role } : {}),
      ...(activeChanges ? { isActive: patch.is_active } : {}),
      ...bumpVersion(users),
    })
    .where(eq(users.id, userId))
    .returning()
  if (!updated) throw notFound('No such user.')

  const audit = { actorId: actor.user.id, target: target('user', userId), ip: client.ip }
  if (roleChanges) {
    await recordAudit(tx, {
      ...audit,
      action: 'user.role_change',
      details: { before: { role: current.role }, after: { role: updated.role } },
    })
  }
  if (activeChanges) {
    // The contract has no `user.activate`: `user.deactivate` records every change of the
    // account's active flag, and before/after say which way it went.
    const revoked = updated.isActive ? [] : await authService.revokeAllSessionsIn(tx, userId)
    await recordAudit(tx, {
      ...audit,
      action: 'user.deactivate',
      details: {
        before: { is_active: current.isActive },
        after: { is_active: updated.isActive },
        ...(updated.isActive ? {} : { revoked_sessions: revoked.length, session_ids: revoked }),
      },
    })
  }
  return { user: toUserView(updated), version: updated.version }
}

export interface SessionFilters {
  userId?: string
  email?: string
  active?: boolean
}

const activeSession = () => and(isNull(userSessions.revokedAt), gt(userSessions.expiresAt, sql`now()`))
const endedSession = () => or(isNotNull(userSessions.revokedAt), lte(userSessions.expiresAt, sql`now()`))

function toAdminSessionView(
  row: { session: typeof userSessions.$inferSelect; email: string },
  currentSessionId: string | null,
): AdminModel.Session {
  return {
    ...toSessionView(row.session, currentSessionId),
    user_id: row.session.userId,
    user_email: row.email,
  }
}

/** Every user's sessions, newest first; `active` splits live sessions from revoked or expired ones. */
export async function listSessions(
  db: Executor,
  filters: SessionFilters,
  currentSessionId: string | null,
  request: PageRequest,
) {
  const where = and(
    filters.userId ? eq(userSessions.userId, filters.userId) : undefined,
    filters.email ? eq(sql`lower(${users.email})`, normalizeEmail(filters.email)) : undefined,
    filters.active === undefined ? undefined : filters.active ? activeSession() : endedSession(),
  )
  const [rows, [counted]] = await Promise.all([
    db
      .select({ session: userSessions, email: users.email })
      .from(userSessions)
      .innerJoin(users, eq(users.id, userSessions.userId))
      .where(where)
      .orderBy(desc(userSessions.createdAt), desc(userSessions.id))
      .limit(request.pageSize)
      .offset(request.offset),
    db
      .select({ total: countAll })
      .from(userSessions)
      .innerJoin(users, eq(users.id, userSessions.userId))
      .where(where),
  ])
  return page(
    rows.map((row) => toAdminSessionView(row, currentSessionId)),
    counted?.total ?? 0,
    request,
  )
}

async function findSession(db: Executor, sessionId: string) {
  const [row] = await db
    .select({ session: userSessions, email: users.email })
    .from(userSessions)
    .innerJoin(users, eq(users.id, userSessions.userId))
    .where(eq(userSessions.id, sessionId))
    .limit(1)
  return row
}

/** Revokes any user's session (idempotent: an already revoked one is returned as it is). */
export async function revokeSession(
  db: Executor,
  authService: AuthService,
  actor: Principal,
  sessionId: string,
  client: ClientInfo,
): Promise<AdminModel.Session> {
  const view = await authService.revokeSession(actor, sessionId, { ownerId: null }, client, db)
  const row = await findSession(db, sessionId)
  if (!row) throw notFound('No such session.')
  return { ...view, user_id: row.session.userId, user_email: row.email }
}

/**
 * Revokes every active session of a user, in the caller's transaction. The audit row (written only
 * when something was revoked, as revoking one session twice writes one row) lists the session ids.
 */
export async function revokeAllSessions(
  tx: Executor,
  authService: AuthService,
  actor: Principal,
  userId: string,
  client: { ip: string | null },
): Promise<{ revoked_count: number }> {
  const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, userId)).limit(1)
  if (!user) throw notFound('No such user.')
  const sessionIds = await authService.revokeAllSessionsIn(tx, userId)
  if (sessionIds.length > 0) {
    await recordAudit(tx, {
      actorId: actor.user.id,
      action: 'session.revoke_all',
      target: target('user', userId),
      ip: client.ip,
      details: { revoked_count: sessionIds.length, session_ids: sessionIds },
    })
  }
  return { revoked_count: sessionIds.length }
}
