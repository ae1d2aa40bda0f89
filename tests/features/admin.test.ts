import { beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { auditLog, userSessions, users } from '../../db/schema'
import { describeEachDatabase, type Harness } from '../support/app'
import { createCallers, createSignedInUser, type TestUser } from '../support/users'

/** CONTRACT §8 Admin: user management, everyone's sessions and the audit log. */

const USERS = '/api/v1/admin/users'
const SESSIONS = '/api/v1/admin/sessions'
const AUDIT = '/api/v1/admin/audit-log'
const MISSING_ID = '00000000-0000-4000-8000-000000000000'

// Several tests create and sign in accounts (argon2id, ~0.3 s each, much more on a busy machine).
setDefaultTimeout(30_000)

async function signIn(h: Harness, user: TestUser) {
  const res = await h.call('POST', '/api/v1/auth/token', {
    body: { email: user.email, password: user.password },
  })
  return res
}

async function auditRows(h: Harness, action: string, targetId: string) {
  return h.database.handle.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, action), eq(auditLog.target, targetId)))
}

async function userRow(h: Harness, id: string) {
  const [row] = await h.database.handle.db.select().from(users).where(eq(users.id, id))
  if (!row) throw new Error('no such user')
  return row
}

describeEachDatabase('admin', (h) => {
  let c: Awaited<ReturnType<typeof createCallers>>

  beforeAll(async () => {
    c = await createCallers(h())
  }, 30_000)

  describe('who may call what', () => {
    const routes = () => [
      { method: 'GET', path: USERS, role: 'admin', expect: 200 },
      {
        method: 'PATCH',
        path: `${USERS}/${c.otherUser.id}`,
        role: 'admin',
        body: { role: 'user' },
        expect: 200,
      },
      { method: 'GET', path: SESSIONS, role: 'staff', expect: 200 },
      { method: 'POST', path: `${SESSIONS}/${MISSING_ID}/revoke`, role: 'staff', expect: 404 },
      { method: 'POST', path: `${USERS}/${MISSING_ID}/sessions/revoke-all`, role: 'staff', expect: 404 },
      { method: 'GET', path: AUDIT, role: 'staff', expect: 200 },
    ]

    test('anonymous callers get 401 on every admin route', async () => {
      for (const route of routes()) {
        const res = await h().call(route.method, route.path, { body: route.body })
        expect({ route: route.path, status: res.status, code: res.body?.code }).toEqual({
          route: route.path,
          status: 401,
          code: 'unauthenticated',
        })
        expect(res.headers.get('content-type')).toContain('application/problem+json')
      }
    })

    test('signed-in users without staff get 403 forbidden on every admin route', async () => {
      for (const route of routes()) {
        const res = await h().call(route.method, route.path, { body: route.body, token: c.user.token })
        expect({ route: route.path, status: res.status, code: res.body?.code }).toEqual({
          route: route.path,
          status: 403,
          code: 'forbidden',
        })
      }
    })

    test('staff may use the session and audit routes but not user management (403)', async () => {
      for (const route of routes()) {
        const res = await h().call(route.method, route.path, { body: route.body, token: c.staff.token })
        expect({ route: route.path, status: res.status }).toEqual({
          route: route.path,
          status: route.role === 'admin' ? 403 : route.expect,
        })
      }
    })

    test('admins may use every admin route', async () => {
      for (const route of routes()) {
        const res = await h().call(route.method, route.path, { body: route.body, token: c.admin.token })
        expect({ route: route.path, status: res.status }).toEqual({
          route: route.path,
          status: route.expect,
        })
      }
    })
  })

  describe('GET /admin/users', () => {
    test('items are {id, email, full_name, role, is_active, created_at, last_login_at} and nothing secret', async () => {
      const res = await h().call('GET', `${USERS}?q=${encodeURIComponent(c.user.email)}`, {
        token: c.admin.token,
      })
      expect(res.status).toBe(200)
      expect(res.body.total).toBe(1)
      expect(res.body.items[0]).toEqual({
        id: c.user.id,
        email: c.user.email,
        full_name: expect.any(String),
        role: 'user',
        is_active: true,
        created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
        last_login_at: expect.stringMatching(/Z$/),
      })
      expect(res.text).not.toContain('password')
      expect(res.text).not.toContain('argon2')
    })

    test('q matches the email case-insensitively, and % or _ match only themselves', async () => {
      const upper = await h().call('GET', `${USERS}?q=${encodeURIComponent(c.staff.email.toUpperCase())}`, {
        token: c.admin.token,
      })
      expect(upper.body.items.map((u: any) => u.id)).toEqual([c.staff.id])
      const percent = await h().call('GET', `${USERS}?q=%25`, { token: c.admin.token })
      expect(percent.status).toBe(200)
      expect(percent.body.total).toBe(0)
      const apostrophe = await h().call('GET', `${USERS}?q=${encodeURIComponent("o'brien")}`, {
        token: c.admin.token,
      })
      expect(apostrophe.status).toBe(200)
    })

    test('role and is_active filter the list', async () => {
      const staff = await h().call('GET', `${USERS}?role=staff&page_size=100`, { token: c.admin.token })
      expect(staff.status).toBe(200)
      expect(staff.body.items.length).toBeGreaterThan(0)
      expect(staff.body.items.every((u: any) => u.role === 'staff')).toBe(true)
      expect(staff.body.items.map((u: any) => u.id)).toContain(c.staff.id)
      const inactive = await h().call('GET', `${USERS}?is_active=false&page_size=100`, {
        token: c.admin.token,
      })
      expect(inactive.status).toBe(200)
      expect(inactive.body.items.every((u: any) => u.is_active === false)).toBe(true)
      const active = await h().call('GET', `${USERS}?is_active=true&page_size=100`, {
        token: c.admin.token,
      })
      expect(active.body.items.map((u: any) => u.id)).toContain(c.admin.id)
    })

    test('default order is newest first; sort=email and sort=-email order by email', async () => {
      const all = await h().call('GET', `${USERS}?page_size=100`, { token: c.admin.token })
      const created = all.body.items.map((u: any) => u.created_at)
      expect(created).toEqual([...created].sort().reverse())
      const byEmail = await h().call('GET', `${USERS}?page_size=100&sort=email`, { token: c.admin.token })
      const emails = byEmail.body.items.map((u: any) => u.email)
      expect(emails).toEqual([...emails].sort())
      const byEmailDesc = await h().call('GET', `${USERS}?page_size=100&sort=-email`, {
        token: c.admin.token,
      })
      expect(byEmailDesc.body.items.map((u: any) => u.email)).toEqual([...emails].reverse())
      const byLogin = await h().call('GET', `${USERS}?page_size=100&sort=-last_login_at`, {
        token: c.admin.token,
      })
      expect(byLogin.status).toBe(200)
    })

    test('pagination: page_size, pages, the Link header, and a page past the end is empty with the true total', async () => {
      const first = await h().call('GET', `${USERS}?page_size=1`, { token: c.admin.token })
      expect(first.status).toBe(200)
      expect(first.body.items).toHaveLength(1)
      expect(first.body.page).toBe(1)
      expect(first.body.page_size).toBe(1)
      expect(first.body.total).toBeGreaterThanOrEqual(4)
      expect(first.body.pages).toBe(first.body.total)
      expect(first.headers.get('link')).toContain('rel="next"')
      const second = await h().call('GET', `${USERS}?page_size=1&page=2`, { token: c.admin.token })
      expect(second.body.items[0].id).not.toBe(first.body.items[0].id)
      const past = await h().call('GET', `${USERS}?page=999`, { token: c.admin.token })
      expect(past.status).toBe(200)
      expect(past.body.items).toEqual([])
      expect(past.body.total).toBe(first.body.total)
    })

    test('invalid filters, sorts and page values are 422 problems', async () => {
      for (const query of [
        'role=superuser',
        'is_active=maybe',
        'sort=password_hash',
        'sort=-full_name',
        'page=0',
        'page_size=101',
        'unknown=1',
        'q=',
      ]) {
        const res = await h().call('GET', `${USERS}?${query}`, { token: c.admin.token })
        expect({ query, status: res.status, code: res.body?.code }).toEqual({
          query,
          status: 422,
          code: 'validation_failed',
        })
      }
    })
  })

  describe('PATCH /admin/users/:id', () => {
    let target: TestUser
    beforeAll(async () => {
      target = await createSignedInUser(h(), 'user', 'Role Target')
    }, 30_000)

    test('a role change answers the updated user, bumps the version and writes user.role_change in the audit log', async () => {
      const before = await userRow(h(), target.id)
      const res = await h().call('PATCH', `${USERS}/${target.id}`, {
        token: c.admin.token,
        body: { role: 'staff' },
      })
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ id: target.id, role: 'staff', is_active: true })
      const after = await userRow(h(), target.id)
      expect(after.role).toBe('staff')
      expect(after.version).toBe(before.version + 1)
      const rows = await auditRows(h(), 'user.role_change', `user:${target.id}`)
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({
        actorId: c.admin.id,
        details: { before: { role: 'user' }, after: { role: 'staff' } },
      })
      // The new role applies at once to the target's existing session.
      const sessions = await h().call('GET', SESSIONS, { token: target.token })
      expect(sessions.status).toBe(200)
      // And back, which is another audited change.
      const back = await h().call('PATCH', `${USERS}/${target.id}`, {
        token: c.admin.token,
        body: { role: 'user' },
      })
      expect(back.body.role).toBe('user')
      expect(await auditRows(h(), 'user.role_change', `user:${target.id}`)).toHaveLength(2)
      expect((await h().call('GET', SESSIONS, { token: target.token })).status).toBe(403)
    })

    test('an invalid role is 422: the role is unchanged and no audit row is written', async () => {
      const before = await userRow(h(), target.id)
      const auditBefore = await auditRows(h(), 'user.role_change', `user:${target.id}`)
      for (const body of [
        { role: 'superuser' },
        { role: 'ADMIN' },
        { role: null },
        { role: 'admin', x: 1 },
      ]) {
        const res = await h().call('PATCH', `${USERS}/${target.id}`, { token: c.admin.token, body })
        expect({ body, status: res.status, code: res.body?.code }).toEqual({
          body,
          status: 422,
          code: 'validation_failed',
        })
      }
      const after = await userRow(h(), target.id)
      expect(after.role).toBe(before.role)
      expect(after.version).toBe(before.version)
      expect(await auditRows(h(), 'user.role_change', `user:${target.id}`)).toHaveLength(auditBefore.length)
    })

    test('an empty body, unknown fields and a non-boolean is_active are 422', async () => {
      for (const body of [
        {},
        { email: 'x@example.test' },
        { is_active: 'no' },
        { password: 'abcdefghijk' },
      ]) {
        const res = await h().call('PATCH', `${USERS}/${target.id}`, { token: c.admin.token, body })
        expect({ body, status: res.status }).toEqual({ body, status: 422 })
      }
      expect((await userRow(h(), target.id)).isActive).toBe(true)
    })

    test('an unknown user is 404 and a malformed id is 422', async () => {
      const missing = await h().call('PATCH', `${USERS}/${MISSING_ID}`, {
        token: c.admin.token,
        body: { role: 'staff' },
      })
      expect(missing.status).toBe(404)
      expect(missing.body.code).toBe('not_found')
      for (const id of ['not-a-uuid', '123', `urn:uuid:${MISSING_ID}`]) {
        const res = await h().call('PATCH', `${USERS}/${encodeURIComponent(id)}`, {
          token: c.admin.token,
          body: { role: 'staff' },
        })
        expect({ id, status: res.status }).toEqual({ id, status: 422 })
      }
    })

    test('an admin cannot demote or deactivate themselves (409 cannot_modify_self), and nothing changes', async () => {
      const before = await userRow(h(), c.admin.id)
      for (const body of [
        { role: 'staff' },
        { role: 'user' },
        { is_active: false },
        { role: 'admin', is_active: false },
      ]) {
        const res = await h().call('PATCH', `${USERS}/${c.admin.id}`, { token: c.admin.token, body })
        expect({ body, status: res.status, code: res.body?.code }).toEqual({
          body,
          status: 409,
          code: 'cannot_modify_self',
        })
      }
      const after = await userRow(h(), c.admin.id)
      expect(after).toMatchObject({ role: 'admin', isActive: true, version: before.version })
      expect(await auditRows(h(), 'user.role_change', `user:${c.admin.id}`)).toHaveLength(0)
      expect((await h().call('GET', '/api/v1/auth/me', { token: c.admin.token })).status).toBe(200)
    })

    test('a PATCH without role leaves the role alone (no default is filled in)', async () => {
      await h().call('PATCH', `${USERS}/${target.id}`, { token: c.admin.token, body: { role: 'staff' } })
      const res = await h().call('PATCH', `${USERS}/${target.id}`, {
        token: c.admin.token,
        body: { is_active: true },
      })
      expect(res.status).toBe(200)
      expect(res.body.role).toBe('staff')
      expect((await userRow(h(), target.id)).role).toBe('staff')
      await h().call('PATCH', `${USERS}/${target.id}`, { token: c.admin.token, body: { role: 'user' } })
    })

    test('setting a field to its current value is a 200 that changes nothing and audits nothing', async () => {
      const before = await userRow(h(), target.id)
      const res = await h().call('PATCH', `${USERS}/${target.id}`, {
        token: c.admin.token,
        body: { role: before.role, is_active: true },
      })
      expect(res.status).toBe(200)
      expect((await userRow(h(), target.id)).version).toBe(before.version)
      const self = await h().call('PATCH', `${USERS}/${c.admin.id}`, {
        token: c.admin.token,
        body: { role: 'admin' },
      })
      expect(self.status).toBe(200)
    })
  })

  describe('PATCH /admin/users/:id conditional and idempotent writes (§4, §5)', () => {
    let target: TestUser
    beforeAll(async () => {
      target = await createSignedInUser(h(), 'user', 'Conditional Target')
    }, 30_000)

    test('the 200 carries the strong ETag of the new version; a stale If-Match is 412 and changes nothing', async () => {
      const first = await h().call('PATCH', `${USERS}/${target.id}`, {
        token: c.admin.token,
        body: { role: 'staff' },
      })
      const version = (await userRow(h(), target.id)).version
      expect(first.headers.get('etag')).toBe(`"v${version}"`)
      const stale = await h().call('PATCH', `${USERS}/${target.id}`, {
        token: c.admin.token,
        body: { role: 'user' },
        headers: { 'if-match': `"v${version - 1}"` },
      })
      expect(stale.status).toBe(412)
      expect(stale.body.code).toBe('precondition_failed')
      expect((await userRow(h(), target.id)).role).toBe('staff')
      expect(await auditRows(h(), 'user.role_change', `user:${target.id}`)).toHaveLength(1)
      const fresh = await h().call('PATCH', `${USERS}/${target.id}`, {
        token: c.admin.token,
        body: { role: 'user' },
        headers: { 'if-match': first.headers.get('etag') as string },
      })
      expect(fresh.status).toBe(200)
      expect(fresh.body.role).toBe('user')
    })

    test('the same Idempotency-Key replays the stored response and writes once; another body with it is 422', async () => {
      const key = crypto.randomUUID()
      const send = (body: unknown) =>
        h().call('PATCH', `${USERS}/${target.id}`, {
          token: c.admin.token,
          body,
          headers: { 'idempotency-key': key },
        })
      const auditBefore = (await auditRows(h(), 'user.role_change', `user:${target.id}`)).length
      const first = await send({ role: 'staff' })
      expect(first.status).toBe(200)
      const replay = await send({ role: 'staff' })
      expect(replay.status).toBe(200)
      expect(replay.headers.get('idempotent-replayed')).toBe('true')
      expect(replay.text).toBe(first.text)
      expect(await auditRows(h(), 'user.role_change', `user:${target.id}`)).toHaveLength(auditBefore + 1)
      const reused = await send({ role: 'admin' })
      expect(reused.status).toBe(422)
      expect(reused.body.code).toBe('idempotency_key_reused')
      expect((await userRow(h(), target.id)).role).toBe('staff')
    })
  })

  describe('deactivation', () => {
    let target: TestUser
    let secondSession: { access_token: string; refresh_token: string; session_id: string }
    beforeAll(async () => {
      target = await createSignedInUser(h(), 'user', 'Deactivation Target')
      secondSession = (await signIn(h(), target)).body
    }, 30_000)

    test('is_active=false revokes every session at once: the access token is 401, refresh is 401, login is 403 account_disabled', async () => {
      expect((await h().call('GET', '/api/v1/auth/me', { token: target.token })).status).toBe(200)
      const res = await h().call('PATCH', `${USERS}/${target.id}`, {
        token: c.admin.token,
        body: { is_active: false },
      })
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ id: target.id, is_active: false })

      for (const token of [target.token, secondSession.access_token]) {
        const me = await h().call('GET', '/api/v1/auth/me', { token })
        expect(me.status).toBe(401)
      }
      const refreshed = await h().call('POST', '/api/v1/auth/refresh', {
        body: { refresh_token: secondSession.refresh_token },
      })
      expect(refreshed.status).toBe(401)
      const login = await signIn(h(), target)
      expect(login.status).toBe(403)
      expect(login.body.code).toBe('account_disabled')

      const sessions = await h()
        .database.handle.db.select()
        .from(userSessions)
        .where(eq(userSessions.userId, target.id))
      expect(sessions).toHaveLength(2)
      expect(sessions.every((s) => s.revokedAt !== null)).toBe(true)

      const rows = await auditRows(h(), 'user.deactivate', `user:${target.id}`)
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({
        actorId: c.admin.id,
        details: {
          before: { is_active: true },
          after: { is_active: false },
          revoked_sessions: 2,
          session_ids: expect.arrayContaining([target.sessionId, secondSession.session_id]),
        },
      })
    })

    test('the deactivated user is listed with is_active=false', async () => {
      const res = await h().call('GET', `${USERS}?is_active=false&q=${encodeURIComponent(target.email)}`, {
        token: c.admin.token,
      })
      expect(res.body.items.map((u: any) => u.id)).toEqual([target.id])
    })

    test('reactivation is audited as user.deactivate with after.is_active=true, and the user can sign in again', async () => {
      const res = await h().call('PATCH', `${USERS}/${target.id}`, {
        token: c.admin.token,
        body: { is_active: true },
      })
      expect(res.status).toBe(200)
      expect(res.body.is_active).toBe(true)
      const rows = await auditRows(h(), 'user.deactivate', `user:${target.id}`)
      expect(rows).toHaveLength(2)
      const reactivation = rows.find((row) => (row.details as any).after.is_active === true)
      expect(reactivation?.details).toEqual({ before: { is_active: false }, after: { is_active: true } })
      const login = await signIn(h(), target)
      expect(login.status).toBe(200)
      // Old sessions stay revoked.
      expect((await h().call('GET', '/api/v1/auth/me', { token: target.token })).status).toBe(401)
      expect((await h().call('GET', '/api/v1/auth/me', { token: login.body.access_token })).status).toBe(200)
    })
  })

  describe('GET /admin/sessions', () => {
    test('lists every user’s sessions newest first, with the session view plus user_id and user_email', async () => {
      const res = await h().call('GET', `${SESSIONS}?page_size=100`, { token: c.staff.token })
      expect(res.status).toBe(200)
      const ids = res.body.items.map((s: any) => s.user_id)
      expect(ids).toEqual(expect.arrayContaining([c.user.id, c.otherUser.id, c.admin.id]))
      const mine = res.body.items.find((s: any) => s.id === c.staff.sessionId)
      expect(mine).toEqual({
        id: c.staff.sessionId,
        created_at: expect.any(String),
        last_used_at: expect.any(String),
        user_agent: null,
        ip: expect.any(String),
        expires_at: expect.any(String),
        revoked_at: null,
        is_current: true,
        kind: 'bearer',
        user_id: c.staff.id,
        user_email: c.staff.email,
      })
      const created = res.body.items.map((s: any) => s.created_at)
      expect(created).toEqual([...created].sort().reverse())
      expect(res.text).not.toContain('token_hash')
    })

    test('user_id and active filter the list', async () => {
      const target = await createSignedInUser(h(), 'user')
      const extra = (await signIn(h(), target)).body
      await h().call('POST', `${SESSIONS}/${extra.session_id}/revoke`, { token: c.staff.token })

      const all = await h().call('GET', `${SESSIONS}?user_id=${target.id}`, { token: c.staff.token })
      expect(all.body.total).toBe(2)
      expect(all.body.items.every((s: any) => s.user_id === target.id)).toBe(true)
      const active = await h().call('GET', `${SESSIONS}?user_id=${target.id}&active=true`, {
        token: c.staff.token,
      })
      expect(active.body.items.map((s: any) => s.id)).toEqual([target.sessionId])
      const ended = await h().call('GET', `${SESSIONS}?user_id=${target.id}&active=false`, {
        token: c.staff.token,
      })
      expect(ended.body.items.map((s: any) => s.id)).toEqual([extra.session_id])
      expect(ended.body.items[0].revoked_at).not.toBeNull()
    })

    test('invalid filters are 422', async () => {
      for (const query of [
        'user_id=nope',
        'active=yes',
        'active=',
        'page_size=0',
        'sort=created_at',
        'x=1',
      ]) {
        const res = await h().call('GET', `${SESSIONS}?${query}`, { token: c.staff.token })
        expect({ query, status: res.status }).toEqual({ query, status: 422 })
      }
    })

    test('pagination: a page past the end is empty with the true total', async () => {
      const res = await h().call('GET', `${SESSIONS}?page=500&page_size=10`, { token: c.staff.token })
      expect(res.status).toBe(200)
      expect(res.body.items).toEqual([])
      expect(res.body.total).toBeGreaterThan(0)
      expect(res.body.pages).toBe(Math.ceil(res.body.total / 10))
    })
  })

  describe('POST /admin/sessions/:id/revoke', () => {
    test('staff revoke any user’s session: 200 the session, its token is 401 at once, and session.revoke is audited once', async () => {
      const target = await createSignedInUser(h(), 'user')
      const res = await h().call('POST', `${SESSIONS}/${target.sessionId}/revoke`, { token: c.staff.token })
      expect(res.status).toBe(200)
      const revokedAt = res.body.revoked_at
      expect(res.body).toMatchObject({
        id: target.sessionId,
        user_id: target.id,
        user_email: target.email,
        revoked_at: expect.any(String),
        is_current: false,
      })
      expect((await h().call('GET', '/api/v1/auth/me', { token: target.token })).status).toBe(401)
      const again = await h().call('POST', `${SESSIONS}/${target.sessionId}/revoke`, {
        token: c.admin.token,
      })
      expect(again.status).toBe(200)
      expect(again.body.revoked_at).toBe(revokedAt)
      const rows = await auditRows(h(), 'session.revoke', `session:${target.sessionId}`)
      expect(rows).toHaveLength(1)
      expect(rows[0]?.actorId).toBe(c.staff.id)
    })

    test('an unknown session is 404 and a malformed id is 422', async () => {
      const missing = await h().call('POST', `${SESSIONS}/${MISSING_ID}/revoke`, { token: c.staff.token })
      expect(missing.status).toBe(404)
      const malformed = await h().call('POST', `${SESSIONS}/abc/revoke`, { token: c.staff.token })
      expect(malformed.status).toBe(422)
    })
  })

  describe('POST /admin/users/:id/sessions/revoke-all', () => {
    test('revokes every session of the user, answers {revoked_count} and audits session.revoke_all with the ids', async () => {
      const target = await createSignedInUser(h(), 'user')
      const second = (await signIn(h(), target)).body
      const res = await h().call('POST', `${USERS}/${target.id}/sessions/revoke-all`, {
        token: c.staff.token,
      })
      expect(res.status).toBe(200)
      expect(res.body).toEqual({ revoked_count: 2 })
      expect((await h().call('GET', '/api/v1/auth/me', { token: target.token })).status).toBe(401)
      expect((await h().call('GET', '/api/v1/auth/me', { token: second.access_token })).status).toBe(401)
      const rows = await auditRows(h(), 'session.revoke_all', `user:${target.id}`)
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ actorId: c.staff.id, details: { revoked_count: 2 } })
      expect([...((rows[0]?.details as any)?.session_ids ?? [])].sort()).toEqual(
        [target.sessionId, second.session_id].sort(),
      )
      // The account itself stays active: the user may sign in again.
      expect((await signIn(h(), target)).status).toBe(200)
    })

    test('the same Idempotency-Key replays {revoked_count} without revoking again', async () => {
      const target = await createSignedInUser(h(), 'user')
      const key = crypto.randomUUID()
      const path = `${USERS}/${target.id}/sessions/revoke-all`
      const first = await h().call('POST', path, {
        token: c.staff.token,
        headers: { 'idempotency-key': key },
      })
      expect(first.body).toEqual({ revoked_count: 1 })
      const replay = await h().call('POST', path, {
        token: c.staff.token,
        headers: { 'idempotency-key': key },
      })
      expect(replay.headers.get('idempotent-replayed')).toBe('true')
      expect(replay.body).toEqual({ revoked_count: 1 })
    })

    test('with nothing left to revoke it answers revoked_count 0 and writes no audit row', async () => {
      const target = await createSignedInUser(h(), 'user')
      await h().call('POST', `${USERS}/${target.id}/sessions/revoke-all`, { token: c.staff.token })
      const again = await h().call('POST', `${USERS}/${target.id}/sessions/revoke-all`, {
        token: c.staff.token,
      })
      expect(again.body).toEqual({ revoked_count: 0 })
      expect(await auditRows(h(), 'session.revoke_all', `user:${target.id}`)).toHaveLength(1)
    })

    test('an unknown user is 404 and a malformed id is 422', async () => {
      expect(
        (await h().call('POST', `${USERS}/${MISSING_ID}/sessions/revoke-all`, { token: c.staff.token }))
          .status,
      ).toBe(404)
      expect(
        (await h().call('POST', `${USERS}/nope/sessions/revoke-all`, { token: c.staff.token })).status,
      ).toBe(422)
    })
  })

  describe('GET /admin/audit-log', () => {
    test('items are {id, at, actor_id, action, target, ip, details}, newest first', async () => {
      const res = await h().call('GET', `${AUDIT}?page_size=100`, { token: c.staff.token })
      expect(res.status).toBe(200)
      expect(res.body.total).toBeGreaterThan(0)
      for (const item of res.body.items) {
        expect(Object.keys(item).sort()).toEqual([
          'action',
          'actor_id',
          'at',
          'details',
          'id',
          'ip',
          'target',
        ])
      }
      const keys = res.body.items.map((item: any) => [item.at, item.id])
      const sorted = [...keys].sort((a: any, b: any) => (a[0] === b[0] ? b[1] - a[1] : a[0] < b[0] ? 1 : -1))
      expect(keys).toEqual(sorted)
    })

    test('filters by actor_id, action and exact target', async () => {
      const byActor = await h().call('GET', `${AUDIT}?actor_id=${c.user.id}&page_size=100`, {
        token: c.staff.token,
      })
      expect(byActor.body.total).toBeGreaterThan(0)
      expect(byActor.body.items.every((item: any) => item.actor_id === c.user.id)).toBe(true)

      const logins = await h().call('GET', `${AUDIT}?action=auth.login&page_size=100`, {
        token: c.staff.token,
      })
      expect(logins.body.items.length).toBeGreaterThan(0)
      expect(logins.body.items.every((item: any) => item.action === 'auth.login')).toBe(true)

      const target = `session:${c.user.sessionId}`
      const byTarget = await h().call('GET', `${AUDIT}?target=${encodeURIComponent(target)}`, {
        token: c.staff.token,
      })
      expect(byTarget.body.items.map((item: any) => [item.action, item.target])).toEqual([
        ['auth.login', target],
      ])
      const prefix = await h().call('GET', `${AUDIT}?target=session:`, { token: c.staff.token })
      expect(prefix.body.total).toBe(0)
    })

    test('since and until bound the time range, both inclusive', async () => {
      const all = await h().call('GET', `${AUDIT}?page_size=100`, { token: c.staff.token })
      const newest = all.body.items[0]
      const exact = await h().call(
        'GET',
        `${AUDIT}?since=${newest.at}&until=${newest.at}&action=${newest.action}`,
        { token: c.staff.token },
      )
      expect(exact.status).toBe(200)
      expect(exact.body.items.map((item: any) => item.id)).toContain(newest.id)

      const future = new Date(Date.now() + 3_600_000).toISOString()
      const none = await h().call('GET', `${AUDIT}?since=${future}`, { token: c.staff.token })
      expect(none.body).toMatchObject({ items: [], total: 0, pages: 0 })
      const past = await h().call('GET', `${AUDIT}?until=2000-01-01T00:00:00Z`, { token: c.staff.token })
      expect(past.body.total).toBe(0)
      const withOffset = await h().call(
        'GET',
        `${AUDIT}?since=${encodeURIComponent('2000-01-01T02:00:00+02:00')}`,
        {
          token: c.staff.token,
        },
      )
      expect(withOffset.body.total).toBe(all.body.total)
    })

    test('since after until, an unknown action and malformed values are 422', async () => {
      for (const query of [
        'since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z',
        'action=user.delete',
        'action=',
        'actor_id=nope',
        'since=2026-01-01',
        'since=yesterday',
        'until=2026-02-30T00:00:00Z',
        'since=2026-01-01T00:00:00',
        'target=',
        'foo=bar',
      ]) {
        const res = await h().call('GET', `${AUDIT}?${query}`, { token: c.staff.token })
        expect({ query, status: res.status, code: res.body?.code }).toEqual({
          query,
          status: 422,
          code: 'validation_failed',
        })
      }
    })

    test('pagination: page_size splits the log and the Link header points onward', async () => {
      const res = await h().call('GET', `${AUDIT}?page_size=2`, { token: c.staff.token })
      expect(res.body.items).toHaveLength(2)
      expect(res.body.pages).toBe(Math.ceil(res.body.total / 2))
      expect(res.headers.get('link')).toContain('rel="last"')
      const next = await h().call('GET', `${AUDIT}?page_size=2&page=2`, { token: c.staff.token })
      expect(next.body.items[0].id).not.toBe(res.body.items[0].id)
    })
  })
})

describeEachDatabase('admin sessions by email', (h) => {
  let staff: TestUser
  let user: TestUser
  beforeAll(async () => {
    staff = await createSignedInUser(h(), 'staff')
    user = await createSignedInUser(h(), 'user')
  }, 30_000)

  test('staff find a user’s sessions by email, in any letter case', async () => {
    const res = await h().call(
      'GET',
      `/api/v1/admin/sessions?email=${encodeURIComponent(user.email.toUpperCase())}`,
      {
        token: staff.token,
      },
    )
    expect(res.status).toBe(200)
    expect(res.body.total).toBe(1)
    expect(res.body.items[0].user_email).toBe(user.email)
    const none = await h().call('GET', '/api/v1/admin/sessions?email=nobody%40example.test', {
      token: staff.token,
    })
    expect(none.body.total).toBe(0)
    expect((await h().call('GET', '/api/v1/admin/sessions?email=', { token: staff.token })).status).toBe(422)
  })
})
