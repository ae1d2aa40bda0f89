import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type App, createApp } from '../../server/app'
import { createLogger } from '../../server/log'
import { describeEachDatabase, TEST_ORIGIN, testConfig } from '../support/app'
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases'
import {
  expectProblem,
  GENEROUS_RATE_LIMITS,
  JSON_UTF8,
  pointersOf,
  rowCounts,
  uniqueEmail,
} from '../support/identity'

const REGISTER = '/api/v1/auth/register'
const MIB = 1024 * 1024

/** A JSON body padded with trailing whitespace (insignificant in JSON) to exactly `bytes` bytes. */
function paddedJson(value: unknown, bytes: number): string {
  const json = JSON.stringify(value)
  return json + ' '.repeat(bytes - Buffer.byteLength(json))
}

/** A body streamed in chunks, so the request has no Content-Length (chunked transfer). */
function streamOf(text: string, chunkSize = 64 * 1024): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text)
  let offset = 0
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close()
      controller.enqueue(bytes.subarray(offset, offset + chunkSize))
      offset += chunkSize
    },
  })
}

describeEachDatabase(
  'problem details and request bodies (§1, §2)',
  (h) => {
    const send = async (path: string, init: RequestInit) => {
      const response = await h().request(path, init)
      const text = await response.text()
      let body: any = null
      try {
        body = JSON.parse(text)
      } catch {}
      return { status: response.status, headers: response.headers, body, text }
    }

    test('§2 an unknown route is a 404 application/problem+json with every RFC 9457 member', async () => {
      const res = await h().call('GET', '/api/v1/no-such-thing', {
        headers: { 'x-request-id': 'unknown-route-1' },
      })
      expectProblem(res, 404, 'not_found')
      expect(res.body).toEqual({
        type: 'https://neoforge.dev/problems/not_found',
        title: 'Not Found',
        status: 404,
        detail: expect.any(String),
        instance: '/api/v1/no-such-thing',
        code: 'not_found',
        request_id: 'unknown-route-1',
      })
    })

    test('§2 an unsupported method on a known path is a problem, not an empty or HTML answer', async () => {
      const res = await h().call('PUT', '/api/v1/auth/me')
      expect([404, 405]).toContain(res.status)
      expectProblem(res, res.status, res.status === 404 ? 'not_found' : 'method_not_allowed')
    })

    test('§2 a validation failure is 422 validation_failed with errors[].pointer into the body', async () => {
      const before = await rowCounts(h())
      const res = await h().call('POST', REGISTER, { body: { email: 'not-an-email', password: 'short' } })
      expectProblem(res, 422, 'validation_failed')
      expect(pointersOf(res)).toEqual(['/body/email', '/body/password'])
      expect(await rowCounts(h())).toEqual(before)
    })

    test('§2 missing required fields are each reported with their pointer', async () => {
      const res = await h().call('POST', REGISTER, { body: {} })
      expectProblem(res, 422, 'validation_failed')
      expect(pointersOf(res)).toEqual(['/body/email', '/body/password'])
    })

    test('§2 a JSON body that is not an object is 422 pointing at /body', async () => {
      for (const body of [[1, 2], null, 'text', 42]) {
        const res = await h().call('POST', REGISTER, { body })
        expectProblem(res, 422, 'validation_failed')
        expect(pointersOf(res)).toEqual(['/body'])
      }
    })

    test('§1 an unknown JSON field (role on register) is 422 naming the field, and no user is written', async () => {
      const email = uniqueEmail('role')
      const before = await rowCounts(h())
      const res = await h().call('POST', REGISTER, {
        body: { email, password: 'long enough password', role: 'admin' },
      })
      expectProblem(res, 422, 'validation_failed')
      expect(pointersOf(res)).toEqual(['/body/role'])
      expect(await rowCounts(h())).toEqual(before)
    })

    test('§1 malformed JSON is 400 malformed_body and writes nothing', async () => {
      const before = await rowCounts(h())
      for (const text of ['{"email":', '{email: "a@b.test"}', "{'a': 1}", '{"a":1}}']) {
        const res = await send(REGISTER, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: text,
        })
        expectProblem(res, 400, 'malformed_body')
      }
      expect(await rowCounts(h())).toEqual(before)
    })

    test('§1 JSON with a charset parameter is accepted as JSON', async () => {
      const res = await send(REGISTER, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ email: 'x', password: 'short' }),
      })
      // Parsed and validated (422), not refused as another media type (415).
      expectProblem(res, 422, 'validation_failed')
    })

    test('§1 a body over 1 MiB with Content-Length is 413 and writes nothing', async () => {
      const before = await rowCounts(h())
      const body = paddedJson({ email: uniqueEmail('big'), password: 'long enough password' }, MIB + 1)
      const res = await send(REGISTER, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(MIB + 1) },
        body,
      })
      expectProblem(res, 413, 'payload_too_large')
      expect(await rowCounts(h())).toEqual(before)
    })

    test('§1 a body of exactly 1 MiB is still read (the limit is 1 MiB, not less)', async () => {
      const body = paddedJson({ email: 'not-an-email', password: 'short' }, MIB)
      expect(Buffer.byteLength(body)).toBe(MIB)
      const res = await send(REGISTER, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      })
      expectProblem(res, 422, 'validation_failed')
    })

    test('§1 a streamed (chunked) body over 1 MiB without Content-Length is 413 and writes nothing', async () => {
      const before = await rowCounts(h())
      const request = new Request(TEST_ORIGIN + REGISTER, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: streamOf(
          paddedJson({ email: uniqueEmail('stream'), password: 'long enough password' }, 2 * MIB),
        ),
        duplex: 'half',
      } as RequestInit)
      expect(request.headers.get('content-length')).toBeNull()
      const response = await h().app.handle(request)
      const res = {
        status: response.status,
        headers: response.headers,
        body: await response.json(),
        text: '',
      }
      expectProblem(res, 413, 'payload_too_large')
      expect(await rowCounts(h())).toEqual(before)
    })

    test('§1 a small streamed body is parsed normally (streams are limited, not refused)', async () => {
      const request = new Request(TEST_ORIGIN + REGISTER, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: streamOf('{"email": "x", "password": "short"}', 7),
        duplex: 'half',
      } as RequestInit)
      const response = await h().app.handle(request)
      const res = {
        status: response.status,
        headers: response.headers,
        body: await response.json(),
        text: '',
      }
      expectProblem(res, 422, 'validation_failed')
    })

    test('§1 a wrong Content-Type (text/plain, a form on a JSON route, none at all) is 415 and writes nothing', async () => {
      const before = await rowCounts(h())
      const json = JSON.stringify({ email: uniqueEmail('media'), password: 'long enough password' })
      const cases: RequestInit[] = [
        { method: 'POST', headers: { 'content-type': 'text/plain' }, body: json },
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'email=someone%40example.test&password=long+enough+password',
        },
        { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' },
        { method: 'POST', body: new Blob([json]) },
      ]
      for (const init of cases) expectProblem(await send(REGISTER, init), 415, 'unsupported_media_type')
      expect(await rowCounts(h())).toEqual(before)
    })

    test('§1 a successful JSON response is application/json; charset=utf-8', async () => {
      const res = await h().call('GET', '/health')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(JSON_UTF8)
    })
  },
  { env: GENEROUS_RATE_LIMITS },
)

/**
 * §2: a 5xx never leaks a stack trace or SQL. The database of this app is closed under it, so
 * every query fails for real (no mock), and `/ready` reports it.
 */
for (const kind of databaseKinds) {
  describe(`server errors with the database gone [${kind}]`, () => {
    let database: TestDatabase
    let app: App
    const logLines: string[] = []
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await app.handle(
        new Request(TEST_ORIGIN + path, {
          method,
          ...(body === undefined
            ? {}
            : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        }),
      )
      const text = await response.text()
      return { status: response.status, headers: response.headers, body: JSON.parse(text), text }
    }

    beforeAll(async () => {
      database = await createTestDatabase(kind)
      app = createApp({
        database: database.handle,
        config: testConfig({ ...GENEROUS_RATE_LIMITS, CRON_ENABLED: 'false' }),
        logger: createLogger('debug', (line) => logLines.push(line)),
      })
      await database.handle.close()
    }, 60_000)
    afterAll(async () => {
      await database.drop().catch(() => {})
    }, 60_000)

    test('§2 a failure inside a handler is a 500 internal_error problem with no stack trace or SQL', async () => {
      const res = await call('POST', '/api/v1/auth/token', {
        email: 'someone@example.test',
        password: 'whatever',
      })
      expectProblem(res, 500, 'internal_error')
      expect(Object.keys(res.body).sort()).toEqual(
        ['code', 'detail', 'instance', 'request_id', 'status', 'title', 'type'].sort(),
      )
      expect(res.text).not.toMatch(/select|insert|from "|users|stack|\bat .*:\d+|pglite|postgres|Error:/i)

      // The details go to the log instead, under the same request id.
      const logged = logLines
        .map((line) => JSON.parse(line))
        .find((entry) => entry.level === 'error' && entry.request_id === res.body.request_id)
      expect(logged?.error?.stack).toEqual(expect.any(String))
      expect(res.text).not.toContain(logged.error.message)
    })

    test('§9 /ready is 503 when the database does not answer, while /health stays 200', async () => {
      const ready = await call('GET', '/ready')
      expectProblem(ready, 503, 'not_ready')
      const health = await call('GET', '/health')
      expect(health.status).toBe(200)
      expect(health.body.status).toBe('ok')
    })
  })
}
