import { beforeAll, expect, test } from 'bun:test'
import { auditLog, refreshTokens, userSessions, users } from '../../../db/schema'
import { describeEachDatabase, TEST_ORIGIN, type TestResponse } from '../../support/app'
import {
  auditRows,
  GENEROUS_RATE_LIMITS,
  PASSWORD,
  register,
  SLOW,
  settle,
  type UserView,
  uniqueEmail,
} from '../../support/identity'

/**
 * §7: "Never a token or hash." One account goes through every identity flow; then every secret
 * it was ever given, and every hash the database keeps, is searched for in the log and in every
 * response that is not the one handing that secret out.
 */
describeEachDatabase(
  'no token, hash or password leaks (§7)',
  (h) => {
    let frank: UserView
    /** Secrets handed to the client: access tokens, refresh tokens, the session cookie value. */
    const secrets = new Set<string>()
    /** Every response except the sign-in and refresh answers that deliver a secret. */
    const responses: Array<{ label: string; res: TestResponse }> = []
    const otherPassword = 'a wrong password typed by accident'

    const record = (label: string, res: TestResponse) => {
      responses.push({ label, res })
      return res
    }
    const takePair = (res: TestResponse) => {
      expect(res.status).toBe(200)
      secrets.add(res.body.access_token)
      secrets.add(res.body.refresh_token)
      return res.body as { access_token: string; refresh_token: string; session_id: string }
    }

    beforeAll(async () => {
      frank = await register(h(), uniqueEmail('frank'))
      const call = h().call.bind(h())

      // Sign-ins: JSON, the OAuth2 form, and failures that must not echo the password.
      const first = takePair(
        await call('POST', '/api/v1/auth/token', { body: { email: frank.email, password: PASSWORD } }),
      )
      const formResponse = await h().request('/api/v1/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          username: frank.email,
          password: PASSWORD,
          grant_type: 'password',
        }).toString(),
      })
      const second = takePair({
        status: formResponse.status,
        headers: formResponse.headers,
        body: await formResponse.json(),
        text: '',
      })
      record(
        'wrong password',
        await call('POST', '/api/v1/auth/token', { body: { email: frank.email, password: otherPassword } }),
      )

      // Refresh, then reuse of the spent token (which revokes the first session).
      const rotated = takePair(
        await call('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } }),
      )
      record(
        'reuse',
        await call('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.refresh_token } }),
      )
      record('after reuse', await call('GET', '/api/v1/auth/me', { token: rotated.access_token }))

      // Browser sign-in; the cookie value is a secret too.
      const cookieResponse = await call('POST', '/api/v1/auth/session', {
        body: { email: frank.email, password: PASSWORD },
      })
      const cookie = (cookieResponse.headers.get('set-cookie') ?? '').split(';')[0] as string
      secrets.add(cookie.split('=')[1] as string)
      record('cookie sign-in', cookieResponse)

      // Reads and writes with each credential, including a token smuggled into a query string.
      record('me', await call('GET', '/api/v1/auth/me', { token: second.access_token }))
      record(
        'me with token in the query',
        await call('GET', `/api/v1/auth/me?access_token=${second.access_token}`),
      )
      record(
        'sessions',
        await call('GET', '/api/v1/auth/sessions?include_revoked=true', { token: second.access_token }),
      )
      record('sessions by cookie', await call('GET', '/api/v1/auth/sessions', { headers: { cookie } }))
      const third = takePair(
        await call('POST', '/api/v1/auth/token', { body: { email: frank.email, password: PASSWORD } }),
      )
      record(
        'revoke',
        await call('POST', `/api/v1/auth/sessions/${third.session_id}/revoke`, {
          token: second.access_token,
        }),
      )
      record(
        'revoke-others',
        await call('POST', '/api/v1/auth/sessions/revoke-others', {
          headers: { cookie, origin: TEST_ORIGIN },
        }),
      )
      record(
        'sessions afterwards',
        await call('GET', '/api/v1/auth/sessions?include_revoked=true', { headers: { cookie } }),
      )
      record(
        'logout by cookie',
        await call('DELETE', '/api/v1/auth/session', { headers: { cookie, origin: TEST_ORIGIN } }),
      )
      record('revoked token', await call('GET', '/api/v1/auth/me', { token: second.access_token }))
      await settle()
    }, SLOW * 2)

    const storedHashes = async () => {
      const db = h().database.handle.db
      const [sessions, refresh, accounts] = await Promise.all([
        db.select({ hash: userSessions.tokenHash }).from(userSessions),
        db.select({ hash: refreshTokens.tokenHash }).from(refreshTokens),
        db.select({ hash: users.passwordHash }).from(users),
      ])
      return {
        sessions: sessions.map((r) => r.hash),
        refresh: refresh.map((r) => r.hash),
        passwords: accounts.map((r) => r.hash),
      }
    }

    test('the flows ran: several secrets were issued and sessions and refresh tokens are stored', async () => {
      expect(secrets.size).toBeGreaterThanOrEqual(7)
      const hashes = await storedHashes()
      expect(hashes.sessions.length).toBeGreaterThanOrEqual(4)
      expect(hashes.refresh.length).toBeGreaterThanOrEqual(4)
      expect(h().logLines.length).toBeGreaterThanOrEqual(responses.length)
    })

    test('§7 no log line contains an access token, refresh token, cookie value, stored hash or password', async () => {
      const hashes = await storedHashes()
      const log = h().logLines.join('')
      for (const secret of [
        ...secrets,
        ...hashes.sessions,
        ...hashes.refresh,
        ...hashes.passwords,
        PASSWORD,
        otherPassword,
      ]) {
        expect(secret.length).toBeGreaterThan(8)
        expect(log.includes(secret)).toBe(false)
      }
    })

    test('§7 no listing or other response contains a token, a stored hash or a password', async () => {
      const hashes = await storedHashes()
      const forbidden = [
        ...secrets,
        ...hashes.sessions,
        ...hashes.refresh,
        ...hashes.passwords,
        PASSWORD,
        otherPassword,
      ]
      for (const { label, res } of responses) {
        const text =
          res.text + JSON.stringify([...res.headers.entries()].filter(([name]) => name !== 'set-cookie'))
        for (const secret of forbidden)
          expect({ label, leaks: text.includes(secret) }).toEqual({ label, leaks: false })
      }
      const listing = responses.find((r) => r.label === 'sessions')?.res
      expect(listing?.status).toBe(200)
      expect(listing?.body.items.length).toBeGreaterThanOrEqual(3)
    })

    test('§7 refresh tokens and session secrets are stored only as hashes', async () => {
      const db = h().database.handle.db
      const rows = JSON.stringify([
        await db.select().from(userSessions),
        await db.select().from(refreshTokens),
        await db.select().from(auditLog),
      ])
      for (const secret of secrets) expect(rows.includes(secret)).toBe(false)
    })

    test('§7 the flows above were audited: login, failed login, refresh reuse, revoke, revoke-others', async () => {
      for (const action of [
        'auth.login',
        'auth.login_failed',
        'auth.refresh_reuse',
        'session.revoke',
        'session.revoke_others',
      ]) {
        const rows = (await auditRows(h(), action)).filter((row) => row.actorId === frank.id)
        expect({ action, audited: rows.length > 0 }).toEqual({ action, audited: true })
        for (const row of rows) {
          expect(row.target).toMatch(/^(session|user):[0-9a-f-]{36}$/)
          expect(row.at).toBeInstanceOf(Date)
        }
      }
    })
  },
  { env: GENEROUS_RATE_LIMITS },
)
