import { expect, test } from 'bun:test'
import { describeEachDatabase } from '../support/app'
import { accessLogLine, expectProblem, GENEROUS_RATE_LIMITS, settle, UUID } from '../support/identity'

describeEachDatabase(
  'X-Request-ID and the access log (§1, §2)',
  (h) => {
    test('§2 a well-formed incoming X-Request-ID is echoed on the response', async () => {
      for (const id of ['abc', 'A.b_c-9', 'x'.repeat(128), '0', 'trace-00f067aa0ba902b7.1']) {
        const res = await h().call('GET', '/health', { headers: { 'x-request-id': id } })
        expect(res.status).toBe(200)
        expect(res.headers.get('x-request-id')).toBe(id)
      }
    })

    test('§2 a malformed or too long X-Request-ID is replaced by a new UUID', async () => {
      const invalid = ['x'.repeat(129), 'has space', 'a/b', 'semi;colon', 'émile', 'quote"', 'a,b', '*']
      const seen = new Set<string>()
      for (const id of invalid) {
        const res = await h().call('GET', '/health', { headers: { 'x-request-id': id } })
        const echoed = res.headers.get('x-request-id') ?? ''
        expect(echoed).toMatch(UUID)
        expect(echoed).not.toBe(id)
        seen.add(echoed)
      }
      expect(seen.size).toBe(invalid.length)
    })

    test('§2 an empty X-Request-ID is replaced by a new UUID', async () => {
      const res = await h().request('/health', { headers: { 'x-request-id': '' } })
      expect(res.headers.get('x-request-id')).toMatch(UUID)
    })

    test('§2 without X-Request-ID every response still carries a fresh UUID', async () => {
      const first = await h().call('GET', '/health')
      const second = await h().call('GET', '/health')
      expect(first.headers.get('x-request-id')).toMatch(UUID)
      expect(second.headers.get('x-request-id')).toMatch(UUID)
      expect(first.headers.get('x-request-id')).not.toBe(second.headers.get('x-request-id'))
    })

    test('§2 the echoed id is the problem’s request_id and the access-log line’s request_id', async () => {
      const id = 'req-echo-404.1'
      const res = await h().call('GET', '/api/v1/nowhere/42', { headers: { 'x-request-id': id } })
      expectProblem(res, 404, 'not_found')
      expect(res.headers.get('x-request-id')).toBe(id)
      expect(res.body.request_id).toBe(id)
      const line = await accessLogLine(h(), id)
      expect(line).toEqual(
        expect.objectContaining({ msg: 'request', request_id: id, method: 'GET', status: 404 }),
      )
    })

    test('§2 a replaced id is the same UUID in the header, the problem and the log line', async () => {
      const res = await h().call('POST', '/api/v1/auth/register', {
        body: { email: 'nope' },
        headers: { 'x-request-id': 'bad id with spaces' },
      })
      expectProblem(res, 422, 'validation_failed')
      const id = res.headers.get('x-request-id') as string
      expect(id).toMatch(UUID)
      expect(res.body.request_id).toBe(id)
      const line = await accessLogLine(h(), id)
      expect(line).toEqual(
        expect.objectContaining({
          request_id: id,
          method: 'POST',
          path: '/api/v1/auth/register',
          status: 422,
        }),
      )
      expect(h().logLines.join('')).not.toContain('bad id with spaces')
    })

    test('§2 a successful request is logged under its id too', async () => {
      const res = await h().call('GET', '/ready', { headers: { 'x-request-id': 'ready-check-7' } })
      expect(res.status).toBe(200)
      const line = await accessLogLine(h(), 'ready-check-7')
      expect(line).toEqual(expect.objectContaining({ path: '/ready', route: '/ready', status: 200 }))
    })

    test('§1 logs are one JSON object per line, each with level, time and msg', async () => {
      await h().call('GET', '/health')
      await settle()
      expect(h().logLines.length).toBeGreaterThan(0)
      for (const line of h().logLines) {
        expect(line.endsWith('\n')).toBe(true)
        expect(line.slice(0, -1)).not.toContain('\n')
        const entry = JSON.parse(line)
        expect(entry).toEqual(
          expect.objectContaining({
            level: expect.any(String),
            time: expect.any(String),
            msg: expect.any(String),
          }),
        )
        expect(new Date(entry.time).toISOString()).toBe(entry.time)
      }
    })
  },
  { env: GENEROUS_RATE_LIMITS },
)
