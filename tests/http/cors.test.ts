import { expect, test } from 'bun:test'
import { describeEachDatabase } from '../support/app'
import { GENEROUS_RATE_LIMITS } from '../support/identity'

const ALLOWED = 'https://app.example.com'

describeEachDatabase(
  'CORS with CORS_ORIGINS set (§1)',
  (h) => {
    test('§1 a listed origin is allowed and may read the exposed headers', async () => {
      const res = await h().request('/health', { headers: { origin: ALLOWED } })
      expect(res.status).toBe(200)
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED)
      const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/\s*,\s*/)
      expect(exposed).toEqual(expect.arrayContaining(['x-request-id', 'link', 'etag']))
      expect(res.headers.get('vary')).toMatch(/origin/i)
    })

    test('§1 problems carry the CORS headers too, so a browser client can read them', async () => {
      const res = await h().request('/api/v1/no-such-thing', { headers: { origin: ALLOWED } })
      expect(res.status).toBe(404)
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    })

    test('§1 an origin that is not listed gets no Access-Control-Allow-Origin', async () => {
      for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.test', 'null']) {
        const res = await h().request('/health', { headers: { origin } })
        expect(res.headers.get('access-control-allow-origin')).toBeNull()
      }
    })

    test('§1 a preflight from a listed origin is answered with the allowed methods and headers', async () => {
      const res = await h().request('/api/v1/auth/token', {
        method: 'OPTIONS',
        headers: {
          origin: ALLOWED,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type, authorization',
        },
      })
      expect(res.status).toBe(204)
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED)
      expect(res.headers.get('access-control-allow-methods')).toContain('POST')
      expect((res.headers.get('access-control-allow-headers') ?? '').toLowerCase()).toContain('authorization')
    })
  },
  { env: { ...GENEROUS_RATE_LIMITS, CORS_ORIGINS: `${ALLOWED}, http://localhost:5173` } },
)

describeEachDatabase(
  'CORS by default (§1)',
  (h) => {
    test('§1 without CORS_ORIGINS no cross-origin caller is allowed (same-origin only)', async () => {
      const res = await h().request('/health', { headers: { origin: ALLOWED } })
      expect(res.status).toBe(200)
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
    })
  },
  { env: GENEROUS_RATE_LIMITS },
)
