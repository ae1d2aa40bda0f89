import { beforeAll, expect, setSystemTime, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { userSessions, users } from '../../../db/schema'
import { describeEachDatabase } from '../../support/app'
import {
  auditRows,
  countRows,
  expectProblem,
  GENEROUS_RATE_LIMITS,
  ISO_UTC,
  JSON_UTF8,
  PASSWORD,
  pointersOf,
  problemWithoutRequest,
  register,
  SLOW,
  signIn,
  type TokenPair,
  type UserView,
  UUID,
  uniqueEmail,
} from '../../support/identity'

const TOKEN = '/api/v1/auth/token'
const ME = '/api/v1/auth/me'

describeEachDatabase(
  'sign-in with POST /auth/token (§7)',
  (h) => {
    let alice: UserView
    let dave: UserView
    let daveTokens: TokenPair

    beforeAll(async () => {
      ;[alice, dave] = await Promise.all([
        register(h(), uniqueEmail('alice')),
        register(h(), uniqueEmail('dave')),
      ])
      daveTokens = await signIn(h(), dave.email)
    }, SLOW)

    const formCall = async (fields: Record<string, string>) => {
      const response = await h().request(TOKEN, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields).toString(),
      })
      const text = await response.text()
      return { status: response.status, headers: response.headers, body: JSON.parse(text), text }
    }

    const expectTokenPair = (body: unknown) =>
      expect(body).toEqual({
        access_token: expect.any(String),
        token_type: 'bearer',
        expires_in: expect.any(Number),
        refresh_token: expect.any(String),
        session_id: expect.stringMatching(UUID),
      })

    test(
      '§7 JSON {email, password} is 200 with a bearer pair, and the login opens a session',
      async () => {
        const sessionsBefore = await countRows(h(), 'user_sessions')
        const res = await h().call('POST', TOKEN, {
          body: { email: alice.email, password: PASSWORD },
          headers: { 'user-agent': 'token-test/1.0' },
        })
        expect(res.status).toBe(200)
        expect(res.headers.get('content-type')).toMatch(JSON_UTF8)
        expect(res.headers.get('cache-control')).toBe('no-store')
        expectTokenPair(res.body)
        expect(res.body.access_token).not.toBe(res.body.refresh_token)
        expect(await countRows(h(), 'user_sessions')).toBe(sessionsBefore + 1)
        const [session] = await h()
          .database.handle.db.select()
          .from(userSessions)
          .where(eq(userSessions.id, res.body.session_id))
        expect(session).toMatchObject({ userId: alice.id, userAgent: 'token-test/1.0', revokedAt: null })
        expect(session?.ip).toEqual(expect.any(String))
      },
      SLOW,
    )

    test(
      '§7 access tokens are short-lived: 0 < expires_in <= 900',
      async () => {
        const pair = await signIn(h(), alice.email)
        expect(Number.isInteger(pair.expires_in)).toBe(true)
        expect(pair.expires_in).toBeGreaterThan(0)
        expect(pair.expires_in).toBeLessThanOrEqual(900)
      },
      SLOW,
    )

    test(
      '§7 the email is matched case-insensitively',
      async () => {
        const res = await h().call('POST', TOKEN, {
          body: { email: alice.email.toUpperCase(), password: PASSWORD },
        })
        expect(res.status).toBe(200)
        expectTokenPair(res.body)
      },
      SLOW,
    )

    test(
      '§7 the OAuth2 password form (username, password) signs in too',
      async () => {
        const res = await formCall({ username: alice.email, password: PASSWORD })
        expect(res.status).toBe(200)
        expectTokenPair(res.body)
        const me = await h().call('GET', ME, { token: res.body.access_token })
        expect(me.status).toBe(200)
        expect(me.body.id).toBe(alice.id)
      },
      SLOW,
    )

    test(
      '§7 grant_type=password is accepted in the form',
      async () => {
        const res = await formCall({ grant_type: 'password', username: alice.email, password: PASSWORD })
        expect(res.status).toBe(200)
        expectTokenPair(res.body)
      },
      SLOW,
    )

    test(
      '§7 any other grant_type is 400 unsupported_grant_type, in the form or in JSON, and opens no session',
      async () => {
        const before = await countRows(h(), 'user_sessions')
        for (const grant of ['client_credentials', 'refresh_token', 'authorization_code', '']) {
          expectProblem(
            await formCall({ grant_type: grant, username: alice.email, password: PASSWORD }),
            400,
            'unsupported_grant_type',
          )
        }
        expectProblem(
          await h().call('POST', TOKEN, {
            body: { email: alice.email, password: PASSWORD, grant_type: 'implicit' },
          }),
          400,
          'unsupported_grant_type',
        )
        expect(await countRows(h(), 'user_sessions')).toBe(before)
      },
      SLOW,
    )

    test(
      '§7 unknown email and wrong password: the same 401 with the same body, and both audited',
      async () => {
        const sessionsBefore = await countRows(h(), 'user_sessions')
        const failuresBefore = (await auditRows(h(), 'auth.login_failed')).length
        const unknown = await h().call('POST', TOKEN, {
          body: { email: uniqueEmail('nobody'), password: PASSWORD },
        })
        const wrong = await h().call('POST', TOKEN, {
          body: { email: alice.email, password: 'not the password' },
        })
        const wrongForm = await formCall({ username: alice.email, password: 'not the password' })
        expect(unknown.status).toBe(401)
        expectProblem(unknown, 401, unknown.body.code)
        expect(problemWithoutRequest(wrong)).toEqual(problemWithoutRequest(unknown))
        expect(problemWithoutRequest(wrongForm)).toEqual(problemWithoutRequest(unknown))
        expect(wrong.headers.get('content-type')).toBe(unknown.headers.get('content-type'))
        expect(wrong.headers.get('www-authenticate')).toBe(unknown.headers.get('www-authenticate'))
        expect(unknown.text).not.toMatch(/unknown|not found|exist|registered/i)

        expect(await countRows(h(), 'user_sessions')).toBe(sessionsBefore)
        const failures = (await auditRows(h(), 'auth.login_failed')).slice(failuresBefore)
        expect(failures).toHaveLength(3)
        expect(failures.map((row) => row.actorId)).toEqual([null, alice.id, alice.id])
      },
      SLOW,
    )

    test(
      '§7 a deactivated account with the right password is 403 account_disabled, and its tokens stop working',
      async () => {
        expect((await h().call('GET', ME, { token: daveTokens.access_token })).status).toBe(200)
        await h().database.handle.db.update(users).set({ isActive: false }).where(eq(users.id, dave.id))
        const sessionsBefore = await countRows(h(), 'user_sessions')

        const res = await h().call('POST', TOKEN, { body: { email: dave.email, password: PASSWORD } })
        expectProblem(res, 403, 'account_disabled')
        expect(res.text).not.toContain('access_token')
        expect(await countRows(h(), 'user_sessions')).toBe(sessionsBefore)
        const [audited] = (await auditRows(h(), 'auth.login_failed')).filter((row) => row.actorId === dave.id)
        expect(audited).toBeDefined()

        // The wrong password reveals nothing about the account's state: the ordinary 401.
        const wrong = await h().call('POST', TOKEN, {
          body: { email: dave.email, password: 'not the password' },
        })
        const unknown = await h().call('POST', TOKEN, {
          body: { email: uniqueEmail('nobody'), password: PASSWORD },
        })
        expect(wrong.status).toBe(401)
        expect(problemWithoutRequest(wrong)).toEqual(problemWithoutRequest(unknown))

        expectProblem(await h().call('GET', ME, { token: daveTokens.access_token }), 401, 'unauthenticated')
        expect(
          (
            await h().call('POST', '/api/v1/auth/refresh', {
              body: { refresh_token: daveTokens.refresh_token },
            })
          ).status,
        ).toBe(401)
      },
      SLOW,
    )

    test(
      '§7 every successful login writes an auth.login audit row naming the session',
      async () => {
        const pair = await signIn(h(), alice.email)
        const rows = await auditRows(h(), 'auth.login', `session:${pair.session_id}`)
        expect(rows).toHaveLength(1)
        expect(rows[0]).toMatchObject({
          actorId: alice.id,
          action: 'auth.login',
          target: `session:${pair.session_id}`,
        })
      },
      SLOW,
    )

    test(
      '§7 the token request is validated: email (or username) and password are required, unknown fields refused',
      async () => {
        const missingEmail = await h().call('POST', TOKEN, { body: { password: PASSWORD } })
        expectProblem(missingEmail, 422, 'validation_failed')
        expect(pointersOf(missingEmail)).toEqual(['/body/email'])

        const missingPassword = await h().call('POST', TOKEN, { body: { email: alice.email } })
        expectProblem(missingPassword, 422, 'validation_failed')
        expect(pointersOf(missingPassword)).toEqual(['/body/password'])

        const unknownField = await h().call('POST', TOKEN, {
          body: { email: alice.email, password: PASSWORD, remember: true },
        })
        expectProblem(unknownField, 422, 'validation_failed')
        expect(pointersOf(unknownField)).toEqual(['/body/remember'])
      },
      SLOW,
    )

    test(
      '§7 /auth/token takes JSON or the form, nothing else (415)',
      async () => {
        const res = await h().request(TOKEN, {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: JSON.stringify({ email: alice.email, password: PASSWORD }),
        })
        expect(res.status).toBe(415)
        expect(res.headers.get('content-type')).toBe('application/problem+json')
      },
      SLOW,
    )

    test(
      '§7 GET /auth/me with the access token is the user, without secrets',
      async () => {
        const pair = await signIn(h(), alice.email)
        const res = await h().call('GET', ME, { token: pair.access_token })
        expect(res.status).toBe(200)
        expect(res.body).toEqual({
          id: alice.id,
          email: alice.email,
          full_name: null,
          role: 'user',
          is_active: true,
          created_at: alice.created_at,
          last_login_at: expect.stringMatching(ISO_UTC),
        })
        expect(res.text).not.toMatch(/password|hash|token/i)
      },
      SLOW,
    )

    test(
      '§7 GET /auth/me without a credential is 401 unauthenticated with WWW-Authenticate: Bearer',
      async () => {
        const res = await h().call('GET', ME)
        expectProblem(res, 401, 'unauthenticated')
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
      },
      SLOW,
    )

    test(
      '§7 garbage, tampered, truncated or misused tokens are 401',
      async () => {
        const pair = await signIn(h(), alice.email)
        const token = pair.access_token
        const flip = (value: string, at: number) =>
          value.slice(0, at) + (value[at] === 'A' ? 'B' : 'A') + value.slice(at + 1)
        const bad = [
          'garbage',
          flip(token, Math.floor(token.length / 2)),
          flip(token, token.length - 1),
          flip(token, 8),
          token.slice(0, -4),
          `${token}x`,
          pair.refresh_token,
          pair.session_id,
        ]
        for (const credential of bad) {
          expect(credential).not.toBe(token)
          const res = await h().call('GET', ME, { token: credential })
          expectProblem(res, 401, 'unauthenticated')
        }
        for (const authorization of [`Basic ${token}`, 'Bearer', 'Bearer ', `Token ${token}`]) {
          const res = await h().call('GET', ME, { headers: { authorization } })
          expectProblem(res, 401, 'unauthenticated')
        }
        // The real one still works: the rejections above were about the credential.
        expect((await h().call('GET', ME, { token })).status).toBe(200)
      },
      SLOW,
    )

    test(
      '§7 an access token dies when its expires_in has passed',
      async () => {
        const pair = await signIn(h(), alice.email)
        const issuedAt = Date.now()
        try {
          setSystemTime(new Date(issuedAt + (pair.expires_in - 5) * 1000))
          expect((await h().call('GET', ME, { token: pair.access_token })).status).toBe(200)
          setSystemTime(new Date(issuedAt + (pair.expires_in + 2) * 1000))
          expectProblem(await h().call('GET', ME, { token: pair.access_token }), 401, 'unauthenticated')
        } finally {
          setSystemTime()
        }
        // Only the access token expired; the session lives on and refresh issues a new one.
        const refreshed = await h().call('POST', '/api/v1/auth/refresh', {
          body: { refresh_token: pair.refresh_token },
        })
        expect(refreshed.status).toBe(200)
      },
      SLOW,
    )
  },
  { env: GENEROUS_RATE_LIMITS },
)

describeEachDatabase(
  'sessions record the client (§6, §7)',
  (h) => {
    test(
      '§7 each login creates a session with the user agent and the client IP (TRUST_PROXY=1)',
      async () => {
        const user = await register(h(), uniqueEmail('client'))
        const pair = await signIn(h(), user.email, PASSWORD, {
          'user-agent': 'Mozilla/5.0 (NeoForge test)',
          'x-forwarded-for': '203.0.113.7',
        })
        const res = await h().call('GET', '/api/v1/auth/sessions', { token: pair.access_token })
        expect(res.status).toBe(200)
        expect(res.body.items).toHaveLength(1)
        expect(res.body.items[0]).toMatchObject({
          id: pair.session_id,
          user_agent: 'Mozilla/5.0 (NeoForge test)',
          ip: '203.0.113.7',
          is_current: true,
        })
      },
      SLOW,
    )
  },
  { env: { ...GENEROUS_RATE_LIMITS, TRUST_PROXY: '1' } },
)
