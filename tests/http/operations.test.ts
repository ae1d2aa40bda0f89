import { expect, test } from 'bun:test'
import { describeEachDatabase } from '../support/app'
import { expectProblem, GENEROUS_RATE_LIMITS, JSON_UTF8, settle } from '../support/identity'

const packageVersion = (await Bun.file(new URL('../../package.json', import.meta.url)).json())
  .version as string

/** Sample lines of one counter family, as `{ labels string: value }`. */
function samples(metrics: string, family: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of metrics.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (match && match[1] === family) out.set(match[2] ?? '', Number(match[3]))
  }
  return out
}

describeEachDatabase(
  'operations endpoints and the OpenAPI document (§1, §9)',
  (h) => {
    const scrape = async () => {
      await settle()
      const res = await h().request('/metrics')
      expect(res.status).toBe(200)
      return { contentType: res.headers.get('content-type'), text: await res.text() }
    }

    test('§9 GET /health is 200 {status: "ok", version}', async () => {
      const res = await h().call('GET', '/health')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(JSON_UTF8)
      expect(res.body).toEqual({ status: 'ok', version: packageVersion })
    })

    test('§9 GET /ready is 200 when the database answers', async () => {
      const res = await h().call('GET', '/ready')
      expect(res.status).toBe(200)
      expect(res.body).toEqual({ status: 'ready' })
    })

    test('§9 /metrics is Prometheus text with every family declared before its samples', async () => {
      await h().call('GET', '/health')
      const { contentType, text } = await scrape()
      expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/)
      expect(text.endsWith('\n')).toBe(true)
      const declared = new Map<string, { help: boolean; type: string | null }>()
      for (const line of text.split('\n').filter(Boolean)) {
        const meta = /^# (HELP|TYPE) (\S+) (.+)$/.exec(line)
        if (meta) {
          const entry = declared.get(meta[2] as string) ?? { help: false, type: null }
          if (meta[1] === 'HELP') entry.help = true
          else entry.type = meta[3] as string
          declared.set(meta[2] as string, entry)
          continue
        }
        const name = (/^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)?.[1] ?? '') as string
        const family = [name, name.replace(/_(bucket|sum|count)$/, '')].find((n) => declared.get(n)?.type)
        expect({ line, declared: family !== undefined }).toEqual({ line, declared: true })
        expect(declared.get(family as string)?.help).toBe(true)
      }
      expect(declared.get('http_requests_total')?.type).toBe('counter')
      expect(declared.get('http_request_duration_seconds')?.type).toBe('histogram')
    })

    test('§9 http_requests_total counts each request under its route template, never a raw id', async () => {
      const sessionId = crypto.randomUUID()
      const labels = '{method="POST",route="/api/v1/auth/sessions/:id/revoke",status="401"}'
      const before = samples((await scrape()).text, 'http_requests_total').get(labels) ?? 0
      for (let i = 0; i < 3; i++) {
        const res = await h().call('POST', `/api/v1/auth/sessions/${sessionId}/revoke`)
        expectProblem(res, 401, 'unauthenticated')
      }
      const { text } = await scrape()
      expect(samples(text, 'http_requests_total').get(labels)).toBe(before + 3)
      expect(text).toContain(
        'http_request_duration_seconds_count{method="POST",route="/api/v1/auth/sessions/:id/revoke"}',
      )
      expect(text).not.toContain(sessionId)
    })

    test('§9 unmatched paths do not create one metric series per raw path', async () => {
      const probe = `/api/v1/no-such-route/${crypto.randomUUID()}`
      expectProblem(await h().call('GET', probe), 404, 'not_found')
      const { text } = await scrape()
      expect(text).not.toContain(probe)
      for (const route of samples(text, 'http_requests_total').keys()) {
        expect(route).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/)
      }
    })

    test('§1 GET /swagger/json documents every auth route with its statuses and the bearer scheme', async () => {
      const res = await h().call('GET', '/swagger/json')
      expect(res.status).toBe(200)
      const doc = res.body
      expect(doc.openapi).toMatch(/^3\./)
      const expected: Array<[string, string, number[]]> = [
        ['post', '/api/v1/auth/register', [201, 409, 413, 415, 422]],
        ['post', '/api/v1/auth/token', [200, 400, 401, 403, 413, 415, 422]],
        ['post', '/api/v1/auth/refresh', [200, 401, 422]],
        ['post', '/api/v1/auth/logout', [204, 401]],
        ['get', '/api/v1/auth/me', [200, 401]],
        ['get', '/api/v1/auth/sessions', [200, 401, 422]],
        ['post', '/api/v1/auth/sessions/revoke-others', [200, 401]],
        ['post', '/api/v1/auth/sessions/{id}/revoke', [200, 401, 404]],
        ['post', '/api/v1/auth/session', [200, 401, 403, 422]],
        ['delete', '/api/v1/auth/session', [204, 401, 403]],
      ]
      for (const [method, path, statuses] of expected) {
        const operation = doc.paths?.[path]?.[method]
        expect({ path, method, documented: operation !== undefined }).toEqual({
          path,
          method,
          documented: true,
        })
        const documented = Object.keys(operation.responses ?? {}).map(Number)
        for (const status of statuses)
          expect({ path, status, documented: documented.includes(status) }).toEqual({
            path,
            status,
            documented: true,
          })
      }
      const sessions = doc.paths['/api/v1/auth/sessions'].get
      const queryNames = (sessions.parameters ?? []).map((p: { name: string }) => p.name)
      expect(queryNames).toEqual(expect.arrayContaining(['page', 'page_size', 'include_revoked']))
      expect(doc.components?.securitySchemes?.bearer).toEqual(
        expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      )
    })

    test('§1 GET /swagger renders with no internet access: no http(s) URL, and its script is served here', async () => {
      const res = await h().request('/swagger')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      const html = await res.text()
      expect(html).not.toMatch(/https?:\/\//i)
      expect(html).not.toMatch(/(src|href)\s*=\s*["']?\/\//i)
      const assets = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["']([^"']+)["']/gi)].map(
        (match) => match[1] as string,
      )
      const scripts = [...html.matchAll(/<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']/gi)]
      expect(scripts.length).toBeGreaterThan(0)
      for (const asset of assets) {
        const url = new URL(asset, 'http://neoforge.test/swagger')
        expect(url.origin).toBe('http://neoforge.test')
        const served = await h().request(url.pathname + url.search)
        expect({ asset, status: served.status }).toEqual({ asset, status: 200 })
        const body = await served.text()
        expect(body.length).toBeGreaterThan(1000)
      }
      for (const [, src] of scripts) {
        const served = await h().request(new URL(src as string, 'http://neoforge.test/swagger').pathname)
        expect(served.headers.get('content-type')).toMatch(/javascript/)
      }
    })
  },
  { env: GENEROUS_RATE_LIMITS },
)
