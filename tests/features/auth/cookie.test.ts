import { beforeAll, expect, test } from 'bun:test'
import { createApp } from '../../../server/app'
import { createLogger } from '../../../server/log'
import { describeEachDatabase, TEST_ORIGIN, testConfig } from '../../support/app'
import {
  cookieSignIn,
  countRows,
  expectProblem,
  GENEROUS_RATE_LIMITS,
  PASSWORD,
  register,
  SLOW,
  signIn,
  type TokenPair,
  type UserView,
  uniqueEmail,
} from '../../support/identity'

const SESSION = '/api/v1/auth/session'
const ME = '/api/v1/auth/me'
const SESSIONS = '/api/v1/auth/sessions'

describeEachDatabase(
  'browser sign-in with the session cookie (§7)',
  (h) => {
    let erin: UserView
    let bearer: TokenPair

    beforeAll(async () => {
      erin = await register(h(), uniqueEmail('erin'))
      bearer = await signIn(h(), erin.email)
    }, SLOW)

    const withCookie = (method: string, path: string, cookie: string, headers: Record<string, string> = {}) =>
      h().call(method, path, { headers: { cookie, ...headers } })

    test(
      '§7 POST /auth/session is 200 with the user and an HttpOnly SameSite=Strict cookie, no token in the body',
      async () => {
        const sessionsBefore = await countRows(h(), 'user_sessions')
        const res = await h().call('POST', SESSION, { body: { email: erin.email, password: PASSWORD } })
        expect(res.status).toBe(200)
        expect(res.body).toEqual(expect.objectContaining({ id: erin.id, email: erin.email, role: 'user' }))
        const setCookie = res.headers.get('set-cookie') ?? ''
        const [pair, ...attributes] = setCookie.split(';').map((part) => part.trim())
        const [name, value] = (pair ?? '').split('=')
        expect(name).toBe('neoforge_session')
        expect(value?.length).toBeGreaterThanOrEqual(32)
        const attributeNames = attributes.map((attribute) => attribute.split('=')[0]?.toLowerCase())
        expect(attributeNames).toContain('httponly')
        expect(attributes.map((attribute) => attribute.toLowerCase())).toContain('samesite=strict')
        expect(attributes.map((attribute) => attribute.toLowerCase())).toContain('path=/')
        // Not Secure outside production (plain-http development); see the production test below.
        expect(attributeNames).not.toContain('secure')

        expect(res.text).not.toContain(value as string)
        expect(res.text).not.toMatch(/access_token|refresh_token|token/i)
        expect(res.headers.get('cache-control')).toBe('no-store')
        expect(await countRows(h(), 'user_sessions')).toBe(sessionsBefore + 1)
      },
      SLOW,
    )

    test(
      '§7 a wrong password on browser sign-in is 401 and sets no cookie',
      async () => {
        const res = await h().call('POST', SESSION, {
          body: { email: erin.email, password: 'not the password' },
        })
        expect(res.status).toBe(401)
        expect(res.headers.get('content-type')).toBe('application/problem+json')
        expect(res.headers.get('set-cookie')).toBeNull()
      },
      SLOW,
    )

    test(
      '§7 the cookie authenticates GET /auth/me (no Origin needed for a read)',
      async () => {
        const cookie = await cookieSignIn(h(), erin.email)
        const res = await withCookie('GET', ME, cookie)
        expect(res.status).toBe(200)
        expect(res.body.id).toBe(erin.id)
      },
      SLOW,
    )

    test(
      '§7 a cookie session is listed like any other, as current',
      async () => {
        const cookie = await cookieSignIn(h(), erin.email)
        const res = await withCookie('GET', SESSIONS, cookie)
        expect(res.status).toBe(200)
        const current = res.body.items.filter((item: { is_current: boolean }) => item.is_current)
        expect(current).toHaveLength(1)
        const listed = await h().call('GET', SESSIONS, { token: bearer.access_token })
        expect(listed.body.items.map((item: { id: string }) => item.id)).toContain(current[0].id)
      },
      SLOW,
    )

    test('§7 a forged or unknown cookie is 401', async () => {
      const res = await withCookie('GET', ME, 'neoforge_session=forged-value-that-matches-no-session')
      expectProblem(res, 401, 'unauthenticated')
    })

    test(
      '§7 a cookie-authenticated write without a same-origin Origin or Referer is 403 csrf_rejected and changes nothing',
      async () => {
        const cookie = await cookieSignIn(h(), erin.email)
        const foreign: Array<Record<string, string>> = [
          {},
          { origin: 'http://evil.test' },
          { origin: 'null' },
          { origin: 'http://neoforge.test.evil.test' },
          { referer: 'http://evil.test/neoforge.test' },
        ]
        for (const headers of foreign) {
          const res = await withCookie('POST', `${SESSIONS}/revoke-others`, cookie, headers)
          expectProblem(res, 403, 'csrf_rejected')
        }
        expectProblem(await withCookie('POST', '/api/v1/auth/logout', cookie), 403, 'csrf_rejected')
        expectProblem(await withCookie('DELETE', SESSION, cookie), 403, 'csrf_rejected')
        // Nothing was revoked: the bearer session and the cookie session both still work.
        expect((await h().call('GET', ME, { token: bearer.access_token })).status).toBe(200)
        expect((await withCookie('GET', ME, cookie)).status).toBe(200)
      },
      SLOW,
    )

    test(
      '§7 a cookie-authenticated write with Origin http://neoforge.test (or a same-origin Referer) is allowed',
      async () => {
        const cookie = await cookieSignIn(h(), erin.email)
        const current = (await withCookie('GET', SESSIONS, cookie)).body.items.find(
          (item: { is_current: boolean }) => item.is_current,
        )
        const byOrigin = await withCookie('POST', `${SESSIONS}/${current.id}/revoke`, cookie, {
          origin: TEST_ORIGIN,
        })
        expect(byOrigin.status).toBe(200)
        expect(byOrigin.body.id).toBe(current.id)

        const second = await cookieSignIn(h(), erin.email)
        const other = (await withCookie('GET', SESSIONS, second)).body.items.find(
          (item: { is_current: boolean }) => item.is_current,
        )
        const byReferer = await withCookie('POST', `${SESSIONS}/${other.id}/revoke`, second, {
          referer: `${TEST_ORIGIN}/admin/sessions`,
        })
        expect(byReferer.status).toBe(200)
      },
      SLOW,
    )

    test(
      '§7 bearer-authenticated writes need no Origin (a browser cannot forge the header)',
      async () => {
        const pair = await signIn(h(), erin.email)
        const other = await signIn(h(), erin.email)
        const res = await h().call('POST', `${SESSIONS}/${other.session_id}/revoke`, {
          token: pair.access_token,
        })
        expect(res.status).toBe(200)
      },
      SLOW,
    )

    test(
      '§7 DELETE /auth/session signs out: 204, the cookie is cleared, and it no longer authenticates',
      async () => {
        const cookie = await cookieSignIn(h(), erin.email)
        const res = await withCookie('DELETE', SESSION, cookie, { origin: TEST_ORIGIN })
        expect(res.status).toBe(204)
        expect(res.text).toBe('')
        const cleared = res.headers.get('set-cookie') ?? ''
        expect(cleared).toMatch(/^neoforge_session=;|Max-Age=0|expires=Thu, 01 Jan 1970/i)
        expectProblem(await withCookie('GET', ME, cookie), 401, 'unauthenticated')
      },
      SLOW,
    )

    test(
      '§7 a cookie session can be revoked from a bearer session; the cookie is then 401',
      async () => {
        const cookie = await cookieSignIn(h(), erin.email)
        const id = (await withCookie('GET', SESSIONS, cookie)).body.items.find(
          (item: { is_current: boolean }) => item.is_current,
        ).id
        const res = await h().call('POST', `${SESSIONS}/${id}/revoke`, { token: bearer.access_token })
        expect(res.status).toBe(200)
        expectProblem(await withCookie('GET', ME, cookie), 401, 'unauthenticated')
      },
      SLOW,
    )

    test(
      '§7 in production the session cookie is Secure',
      async () => {
        const app = createApp({
          database: h().database.handle,
          config: testConfig({
            ...GENEROUS_RATE_LIMITS,
            NODE_ENV: 'production',
            DATABASE_URL: 'postgres://unused.invalid/neoforge',
            CRON_ENABLED: 'false',
          }),
          logger: createLogger('silent'),
        })
        const res = await app.handle(
          new Request(TEST_ORIGIN + SESSION, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email: erin.email, password: PASSWORD }),
          }),
        )
        expect(res.status).toBe(200)
        const attributes = (res.headers.get('set-cookie') ?? '')
          .split(';')
          .map((part) => part.trim().toLowerCase())
        expect(attributes).toContain('secure')
        expect(attributes).toContain('httponly')
        expect(attributes).toContain('samesite=strict')
      },
      SLOW,
    )
  },
  { env: GENEROUS_RATE_LIMITS },
)

describeEachDatabase(
  'cookie writes from a configured console origin (§7)',
  (h) => {
    test(
      '§7 Origin equal to PUBLIC_ORIGIN passes the same-origin check; others do not',
      async () => {
        const user = await register(h(), uniqueEmail('console'))
        const cookie = await cookieSignIn(h(), user.email)
        const post = (origin: string) =>
          h().call('POST', `${SESSIONS}/revoke-others`, { headers: { cookie, origin } })
        expectProblem(await post('https://elsewhere.example.com'), 403, 'csrf_rejected')
        const res = await post('https://console.neoforge.example.com')
        expect(res.status).toBe(200)
        expect(res.body).toEqual({ revoked_count: 0 })
      },
      SLOW,
    )
  },
  { env: { ...GENEROUS_RATE_LIMITS, PUBLIC_ORIGIN: 'https://console.neoforge.example.com' } },
)
