import { beforeAll, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { userSessions } from '../../../db/schema'
import { describeEachDatabase } from '../../support/app'
import {
  auditRows,
  expectProblem,
  GENEROUS_RATE_LIMITS,
  pointersOf,
  register,
  SLOW,
  signIn,
  type UserView,
  uniqueEmail,
} from '../../support/identity'

const REFRESH = '/api/v1/auth/refresh'
const ME = '/api/v1/auth/me'
const LOGOUT = '/api/v1/auth/logout'

describeEachDatabase(
  'refresh rotation, reuse detection and logout (§7)',
  (h) => {
    let bob: UserView

    beforeAll(async () => {
      bob = await register(h(), uniqueEmail('bob'))
    }, SLOW)

    const refresh = (refreshToken: string) =>
      h().call('POST', REFRESH, { body: { refresh_token: refreshToken } })
    const me = (token: string) => h().call('GET', ME, { token })
    const sessionRow = async (id: string) =>
      (await h().database.handle.db.select().from(userSessions).where(eq(userSessions.id, id)))[0]

    test(
      '§7 POST /auth/refresh returns a new pair for the same session',
      async () => {
        const first = await signIn(h(), bob.email)
        const res = await refresh(first.refresh_token)
        expect(res.status).toBe(200)
        expect(res.headers.get('cache-control')).toBe('no-store')
        expect(res.body).toEqual({
          access_token: expect.any(String),
          token_type: 'bearer',
          expires_in: expect.any(Number),
          refresh_token: expect.any(String),
          session_id: first.session_id,
        })
        expect(res.body.expires_in).toBeGreaterThan(0)
        expect(res.body.expires_in).toBeLessThanOrEqual(900)
        expect(res.body.refresh_token).not.toBe(first.refresh_token)
        expect(res.body.access_token).not.toBe(first.access_token)
        const user = await me(res.body.access_token)
        expect(user.status).toBe(200)
        expect(user.body.id).toBe(bob.id)
      },
      SLOW,
    )

    test(
      '§7 a refresh token can be rotated again and again, each new one once',
      async () => {
        let pair = await signIn(h(), bob.email)
        for (let i = 0; i < 3; i++) {
          const res = await refresh(pair.refresh_token)
          expect(res.status).toBe(200)
          expect(res.body.session_id).toBe(pair.session_id)
          pair = res.body
        }
        expect((await me(pair.access_token)).status).toBe(200)
      },
      SLOW,
    )

    test(
      '§7 presenting a rotated refresh token is 401 and revokes the whole session at once',
      async () => {
        const first = await signIn(h(), bob.email)
        const second = (await refresh(first.refresh_token)).body
        expect((await me(second.access_token)).status).toBe(200)

        const reuse = await refresh(first.refresh_token)
        expect(reuse.status).toBe(401)
        expectProblem(reuse, 401, reuse.body.code)

        // The whole session is gone: the current access token and the newest refresh token too.
        expectProblem(await me(second.access_token), 401, 'unauthenticated')
        expect((await refresh(second.refresh_token)).status).toBe(401)
        expect((await sessionRow(first.session_id))?.revokedAt).toBeInstanceOf(Date)

        const audit = await auditRows(h(), 'auth.refresh_reuse', `session:${first.session_id}`)
        expect(audit.length).toBeGreaterThanOrEqual(1)
        expect(audit[0]).toMatchObject({ actorId: bob.id, action: 'auth.refresh_reuse' })
      },
      SLOW,
    )

    test(
      '§7 reuse revokes only that session: the user’s other sessions keep working',
      async () => {
        const other = await signIn(h(), bob.email)
        const victim = await signIn(h(), bob.email)
        await refresh(victim.refresh_token)
        expect((await refresh(victim.refresh_token)).status).toBe(401)
        expect((await me(other.access_token)).status).toBe(200)
        expect((await refresh(other.refresh_token)).status).toBe(200)
      },
      SLOW,
    )

    test('§7 an unknown refresh token is 401 and audits no reuse', async () => {
      const before = (await auditRows(h(), 'auth.refresh_reuse')).length
      for (const token of ['nfr_unknown', 'x', crypto.randomUUID()]) {
        const res = await refresh(token)
        expect(res.status).toBe(401)
        expect(res.headers.get('content-type')).toBe('application/problem+json')
      }
      expect((await auditRows(h(), 'auth.refresh_reuse')).length).toBe(before)
    })

    test(
      '§7 an access token is not a refresh token',
      async () => {
        const pair = await signIn(h(), bob.email)
        expect((await refresh(pair.access_token)).status).toBe(401)
        // ...and the failed attempt did not harm the session.
        expect((await refresh(pair.refresh_token)).status).toBe(200)
      },
      SLOW,
    )

    test('§7 the refresh body is validated (422) and strict', async () => {
      const missing = await h().call('POST', REFRESH, { body: {} })
      expectProblem(missing, 422, 'validation_failed')
      expect(pointersOf(missing)).toEqual(['/body/refresh_token'])
      const extra = await h().call('POST', REFRESH, {
        body: { refresh_token: 'x', grant_type: 'refresh_token' },
      })
      expectProblem(extra, 422, 'validation_failed')
      expect(pointersOf(extra)).toEqual(['/body/grant_type'])
    })

    test(
      '§7 an expired session is 401 for its refresh and its access token',
      async () => {
        const pair = await signIn(h(), bob.email)
        await h()
          .database.handle.db.update(userSessions)
          .set({ expiresAt: new Date(Date.now() - 1000) })
          .where(eq(userSessions.id, pair.session_id))
        expect((await refresh(pair.refresh_token)).status).toBe(401)
        expectProblem(await me(pair.access_token), 401, 'unauthenticated')
      },
      SLOW,
    )

    test(
      '§7 POST /auth/logout is 204, then the access and refresh tokens are 401',
      async () => {
        const pair = await signIn(h(), bob.email)
        const res = await h().call('POST', LOGOUT, { token: pair.access_token })
        expect(res.status).toBe(204)
        expect(res.text).toBe('')
        expectProblem(await me(pair.access_token), 401, 'unauthenticated')
        expect((await refresh(pair.refresh_token)).status).toBe(401)
        expect((await sessionRow(pair.session_id))?.revokedAt).toBeInstanceOf(Date)
        const audit = await auditRows(h(), 'session.revoke', `session:${pair.session_id}`)
        expect(audit).toHaveLength(1)
        expect(audit[0]?.actorId).toBe(bob.id)
      },
      SLOW,
    )

    test(
      '§7 logout ends only the current session',
      async () => {
        const kept = await signIn(h(), bob.email)
        const ended = await signIn(h(), bob.email)
        expect((await h().call('POST', LOGOUT, { token: ended.access_token })).status).toBe(204)
        expect((await me(kept.access_token)).status).toBe(200)
      },
      SLOW,
    )

    test(
      '§7 logout without a valid token is 401, and a second logout with the dead token too',
      async () => {
        expectProblem(await h().call('POST', LOGOUT), 401, 'unauthenticated')
        const pair = await signIn(h(), bob.email)
        expect((await h().call('POST', LOGOUT, { token: pair.access_token })).status).toBe(204)
        expectProblem(await h().call('POST', LOGOUT, { token: pair.access_token }), 401, 'unauthenticated')
      },
      SLOW,
    )
  },
  { env: GENEROUS_RATE_LIMITS },
)
