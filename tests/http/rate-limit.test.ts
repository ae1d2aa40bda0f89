import { beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { policyFor, postgresRateLimitStore, QuotaLeases } from '../../server/http/rate-limit'
import { describeEachDatabase } from '../support/app'
import { createSignedInUser, type TestUser } from '../support/users'

/**
 * RFC 8941 structured-field item: a string with integer parameters, e.g. `"api";q=600;w=60`.
 * Returns null when the value does not parse, so a malformed header fails the test.
 */
function parseItem(value: string | null): { name: string; params: Record<string, number> } | null {
  if (value === null) return null
  const match = /^"([^"\\]*)"((?:;[a-z][a-z0-9_.*-]*=\d+)*)$/.exec(value)
  if (!match) return null
  const params: Record<string, number> = {}
  for (const pair of (match[2] ?? '').split(';').filter(Boolean)) {
    const [key, number] = pair.split('=')
    params[key as string] = Number(number)
  }
  return { name: match[1] as string, params }
}

describe('policyFor', () => {
  test('CONTRACT §6: login and register policies by route, api for the rest of /api/v1, nothing elsewhere', () => {
    expect(policyFor('POST', '/api/v1/auth/token')).toBe('login')
    expect(policyFor('POST', '/api/v1/auth/register')).toBe('register')
    expect(policyFor('GET', '/api/v1/projects')).toBe('api')
    expect(policyFor('GET', '/api/v1/auth/token')).toBe('api')
    expect(policyFor('GET', '/health')).toBeNull()
    expect(policyFor('GET', '/ready')).toBeNull()
    expect(policyFor('GET', '/metrics')).toBeNull()
    expect(policyFor('GET', '/admin/_app/immutable/app.js')).toBeNull()
  })
})

describeEachDatabase(
  'rate limits',
  (h) => {
    let alice: TestUser
    let bob: TestUser
    beforeAll(async () => {
      alice = await createSignedInUser(h(), 'user')
      bob = await createSignedInUser(h(), 'user')
    }, 30_000)

    test('CONTRACT §6: every limited 2xx carries X-RateLimit-* and IETF fields, Remaining decreasing by one', async () => {
      const first = await h().call('GET', '/api/v1/auth/me', { token: alice.token })
      const second = await h().call('GET', '/api/v1/auth/me', { token: alice.token })
      expect(first.status).toBe(200)
      expect(first.headers.get('x-ratelimit-limit')).toBe('5')
      const remaining = Number(first.headers.get('x-ratelimit-remaining'))
      expect(Number(second.headers.get('x-ratelimit-remaining'))).toBe(remaining - 1)

      const reset = Number(first.headers.get('x-ratelimit-reset'))
      const now = Date.now() / 1000
      expect(Number.isInteger(reset)).toBe(true)
      expect(reset).toBeGreaterThan(now)
      expect(reset).toBeLessThanOrEqual(now + 86_400 + 1)

      expect(parseItem(first.headers.get('ratelimit-policy'))).toEqual({
        name: 'api',
        params: { q: 5, w: 86_400 },
      })
      const field = parseItem(first.headers.get('ratelimit'))
      expect(field?.name).toBe('api')
      expect(field?.params.r).toBe(remaining)
      expect(field?.params.t).toBeGreaterThanOrEqual(0)
      expect(field?.params.t).toBeLessThanOrEqual(86_400)
      expect(Math.abs((field?.params.t ?? 0) - (reset - now))).toBeLessThanOrEqual(2)
    })

    test('CONTRACT §6: the api policy is per principal — another user has a full budget of their own', async () => {
      const res = await h().call('GET', '/api/v1/auth/me', { token: bob.token })
      expect(res.headers.get('x-ratelimit-remaining')).toBe('4')
    })

    test('CONTRACT §6: when exhausted the answer is 429 rate_limited with the headers and Retry-After', async () => {
      let last = await h().call('GET', '/api/v1/auth/me', { token: alice.token })
      for (let i = 0; i < 10 && last.status !== 429; i++) {
        last = await h().call('GET', '/api/v1/auth/me', { token: alice.token })
      }
      expect(last.status).toBe(429)
      expect(last.headers.get('content-type')).toBe('application/problem+json')
      expect(last.body.code).toBe('rate_limited')
      expect(last.headers.get('x-ratelimit-remaining')).toBe('0')
      expect(last.headers.get('x-ratelimit-limit')).toBe('5')
      const retryAfter = Number(last.headers.get('retry-after'))
      expect(retryAfter).toBeGreaterThanOrEqual(1)
      expect(retryAfter).toBeLessThanOrEqual(86_400)
      expect(parseItem(last.headers.get('ratelimit'))?.params.r).toBe(0)
    })

    test('CONTRACT §6: failed logins count against the login policy', async () => {
      const attempts = []
      for (let i = 0; i < 4; i++) {
        attempts.push(
          await h().call('POST', '/api/v1/auth/token', {
            body: { email: alice.email, password: 'wrong password!' },
            headers: { 'x-forwarded-for': '203.0.113.7' },
          }),
        )
      }
      expect(attempts.map((a) => a.status)).toEqual([401, 401, 401, 429])
      expect(attempts.map((a) => a.headers.get('x-ratelimit-remaining'))).toEqual(['2', '1', '0', '0'])
      expect(attempts[3]?.body.code).toBe('rate_limited')
    })

    test('CONTRACT §6: invalid bodies count too, and a refused request writes nothing', async () => {
      const ip = { 'x-forwarded-for': '203.0.113.8' }
      const statuses = []
      for (let i = 0; i < 3; i++) {
        statuses.push(
          (await h().call('POST', '/api/v1/auth/register', { body: { email: 'nope' }, headers: ip })).status,
        )
      }
      const refused = await h().call('POST', '/api/v1/auth/register', {
        body: { email: 'ratelimited@example.test', password: 'long enough password' },
        headers: ip,
      })
      expect(statuses).toEqual([422, 422, 422])
      expect(refused.status).toBe(429)
      const me = await h().call('POST', '/api/v1/auth/token', {
        body: { email: 'ratelimited@example.test', password: 'long enough password' },
        headers: { 'x-forwarded-for': '203.0.113.9' },
      })
      expect(me.status).toBe(401)
    })

    test('CONTRACT §6: TRUST_PROXY=1 keys clients by the last X-Forwarded-For hop', async () => {
      const a = await h().call('GET', '/api/v1/status', { headers: { 'x-forwarded-for': '198.51.100.1' } })
      const b = await h().call('GET', '/api/v1/status', { headers: { 'x-forwarded-for': '198.51.100.2' } })
      expect(a.headers.get('x-ratelimit-remaining')).toBe('4')
      expect(b.headers.get('x-ratelimit-remaining')).toBe('4')
    })

    test('CONTRACT §6: /health, /ready and /metrics are not limited', async () => {
      for (const path of ['/health', '/ready', '/metrics']) {
        const res = await h().request(path)
        expect(res.status).toBe(200)
        expect(res.headers.get('x-ratelimit-limit')).toBeNull()
      }
    })

    test('CONTRACT §9: refusals are counted in rate_limit_violations_total{policy}', async () => {
      const metrics = await (await h().request('/metrics')).text()
      expect(metrics).toMatch(/^rate_limit_violations_total\{policy="api"\} [1-9]/m)
      expect(metrics).toMatch(/^rate_limit_violations_total\{policy="login"\} [1-9]/m)
      expect(metrics).toMatch(/^rate_limit_violations_total\{policy="register"\} [1-9]/m)
    })
  },
  // Day-long windows: a suite never straddles a window boundary (they fall at 00:00 UTC).
  {
    env: {
      RATE_LIMIT_LOGIN: '3/86400',
      RATE_LIMIT_REGISTER: '3/86400',
      RATE_LIMIT_API: '5/86400',
      TRUST_PROXY: '1',
    },
  },
)

describeEachDatabase(
  'rate limits without a trusted proxy',
  (h) => {
    test('CONTRACT §6: with TRUST_PROXY=0 a forged X-Forwarded-For does not buy a fresh budget', async () => {
      const a = await h().call('GET', '/api/v1/status', { headers: { 'x-forwarded-for': '198.51.100.1' } })
      const b = await h().call('GET', '/api/v1/status', { headers: { 'x-forwarded-for': '198.51.100.2' } })
      expect(Number(b.headers.get('x-ratelimit-remaining'))).toBe(
        Number(a.headers.get('x-ratelimit-remaining')) - 1,
      )
    })
  },
  { env: { RATE_LIMIT_API: '5/86400' } },
)

describeEachDatabase('rate-limit quota leases', (h) => {
  test('CONTRACT §6: small limits are counted one by one, so they stay exact across instances', () => {
    expect(QuotaLeases.blockSize(10)).toBe(1)
    expect(QuotaLeases.blockSize(600)).toBe(6)
    expect(QuotaLeases.blockSize(100_000_000)).toBe(1000)
  })

  test('CONTRACT §6: two instances taking blocks from one store never hand out a position twice nor admit more than the limit', async () => {
    const store = postgresRateLimitStore(h().database.handle)
    const policy = { name: 'api' as const, limit: 1000, windowSeconds: 86_400 }
    const windowStart = Math.floor(Date.now() / 1000 / 86_400) * 86_400
    const [a, b] = [new QuotaLeases(store), new QuotaLeases(store)]
    const positions = await Promise.all(
      Array.from({ length: 1100 }, (_, i) => (i % 2 === 0 ? a : b).take('lease-test', windowStart, policy)),
    )
    expect(new Set(positions).size).toBe(positions.length)
    const admitted = positions.filter((p) => p <= policy.limit).length
    expect(admitted).toBeLessThanOrEqual(policy.limit)
    // Each instance may leave at most one block (limit/100) unused.
    expect(admitted).toBeGreaterThanOrEqual(policy.limit - 2 * QuotaLeases.blockSize(policy.limit))
    const [row] = await h().database.handle.rows<{ count: number | string }>(
      sql`select count from rate_limit_counters where bucket = 'lease-test'`,
    )
    // One store write per block of ten, not one per request.
    expect(Number(row?.count) % 10).toBe(0)
    expect(Number(row?.count)).toBeLessThanOrEqual(1100 + 2 * 10)
  })
})
