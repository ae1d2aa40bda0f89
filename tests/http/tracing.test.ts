import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Elysia } from 'elysia'
import { openDatabase } from '../../db/client'
import { ConfigError } from '../../server/config'
import { errors } from '../../server/http/errors'
import { requestId } from '../../server/http/request-id'
import { createTracing } from '../../server/http/tracing'
import { createLogger } from '../../server/log'
import { describeEachDatabase, testConfig } from '../support/app'
import { createTestDatabase, type TestDatabase } from '../support/databases'
import { eventually } from '../support/eventually'
import { startServer } from '../support/server-process'
import { createSignedInUser, type TestUser } from '../support/users'

/**
 * Issue 5 item 5: spans for requests and database statements go over OTLP/HTTP when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set, and nothing happens when it is not. A real HTTP server in the
 * test plays the collector; the app runs on a real database.
 */

const SPAN_KIND_SERVER = 2
const SPAN_KIND_CLIENT = 3
const STATUS_ERROR = 2

interface ExportedSpan {
  traceId: string
  spanId: string
  parentSpanId: string | undefined
  name: string
  kind: number
  attributes: Record<string, unknown>
  events: { name: string; attributes: Record<string, unknown> }[]
  status: { code?: number }
  resource: Record<string, unknown>
}

interface OtlpAttribute {
  key: string
  value: Record<string, unknown>
}

const flatten = (attributes: OtlpAttribute[] = []) =>
  Object.fromEntries(
    attributes.map(({ key, value }) => [
      key,
      'intValue' in value ? Number(value.intValue) : Object.values(value)[0],
    ]),
  )

/** A minimal OTLP/HTTP collector: keeps every export request and the spans it carried. */
function startCollector() {
  const requests: { method: string; path: string; contentType: string | null }[] = []
  const spans: ExportedSpan[] = []
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(request) {
      const url = new URL(request.url)
      requests.push({
        method: request.method,
        path: url.pathname,
        contentType: request.headers.get('content-type'),
      })
      let raw = new Uint8Array(await request.arrayBuffer())
      if (request.headers.get('content-encoding') === 'gzip') raw = Bun.gunzipSync(raw)
      const body = JSON.parse(new TextDecoder().decode(raw)) as {
        resourceSpans: {
          resource: { attributes: OtlpAttribute[] }
          scopeSpans: { spans: (Omit<ExportedSpan, 'attributes' | 'events' | 'resource'> & any)[] }[]
        }[]
      }
      for (const { resource, scopeSpans } of body.resourceSpans) {
        for (const scope of scopeSpans) {
          for (const span of scope.spans) {
            spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId || undefined,
              name: span.name,
              kind: span.kind,
              attributes: flatten(span.attributes),
              events: (span.events ?? []).map((e: { name: string; attributes?: OtlpAttribute[] }) => ({
                name: e.name,
                attributes: flatten(e.attributes),
              })),
              status: span.status ?? {},
              resource: flatten(resource.attributes),
            })
          }
        }
      }
      return Response.json({})
    },
  })
  return { url: `http://127.0.0.1:${server.port}`, requests, spans, stop: () => server.stop(true) }
}

const collector = startCollector()
const silentCollector = startCollector()
afterAll(() => {
  collector.stop()
  silentCollector.stop()
})

const serverSpanOf = (requestId: string) => {
  const span = collector.spans.find(
    (s) => s.kind === SPAN_KIND_SERVER && s.attributes['request.id'] === requestId,
  )
  if (!span) throw new Error(`no request span for ${requestId} yet`)
  return span
}
const childrenOf = (parent: ExportedSpan) =>
  collector.spans.filter((s) => s.traceId === parent.traceId && s.parentSpanId === parent.spanId)

describeEachDatabase(
  'Tracing with OTEL_EXPORTER_OTLP_ENDPOINT set (issue 5)',
  (h) => {
    let owner: TestUser
    beforeAll(async () => {
      owner = await createSignedInUser(h())
    }, 30_000)
    afterAll(async () => {
      await h().app.tracing?.shutdown()
    })

    /** Flushes until the collector holds the request's span and `check` passes. */
    const exported = <T>(check: () => T) =>
      eventually(async () => {
        await h().app.tracing?.forceFlush()
        return check()
      })

    test('a request is a SERVER span named after its route template, its statements are CLIENT children in the same trace', async () => {
      const created = await h().call('POST', '/api/v1/projects', {
        token: owner.token,
        body: { name: 'traced' },
      })
      expect(created.status).toBe(201)
      const rid = `trace-read-${crypto.randomUUID()}`
      const res = await h().call('GET', `/api/v1/projects/${created.body.id}`, {
        token: owner.token,
        headers: { 'x-request-id': rid },
      })
      expect(res.status).toBe(200)

      const server = await exported(() => serverSpanOf(rid))
      expect(server.name).toBe('GET /api/v1/projects/:id')
      expect(server.attributes).toMatchObject({
        'http.request.method': 'GET',
        'url.path': `/api/v1/projects/${created.body.id}`,
        'http.route': '/api/v1/projects/:id',
        'http.response.status_code': 200,
        'request.id': rid,
      })
      expect(server.status.code).not.toBe(STATUS_ERROR)
      expect(server.resource).toMatchObject({
        'service.name': 'neoforge',
        'service.version': expect.any(String),
      })

      const statements = await exported(() => {
        const children = childrenOf(server)
        expect(children.some((s) => /"projects"/.test(String(s.attributes['db.query.text'])))).toBe(true)
        return children
      })
      for (const span of statements) {
        expect(span.kind).toBe(SPAN_KIND_CLIENT)
        expect(span.traceId).toBe(server.traceId)
        expect(span.attributes['db.system.name']).toBe('postgresql')
        expect(span.name).toBe(
          String(span.attributes['db.query.text']).trim().split(/\s/)[0]?.toUpperCase() ?? '',
        )
      }

      expect(collector.requests.length).toBeGreaterThan(0)
      for (const request of collector.requests) {
        expect(request).toMatchObject({ method: 'POST', path: '/v1/traces' })
        expect(request.contentType).toStartWith('application/json')
      }
    })

    test('statements inside a transaction are traced with their placeholders, never the values', async () => {
      const secret = `tracing-secret-${crypto.randomUUID()}`
      const rid = `trace-write-${crypto.randomUUID()}`
      const res = await h().call('POST', '/api/v1/projects', {
        token: owner.token,
        body: { name: secret },
        headers: { 'x-request-id': rid },
      })
      expect(res.status).toBe(201)

      const server = await exported(() => serverSpanOf(rid))
      expect(server.name).toBe('POST /api/v1/projects')
      expect(server.attributes['http.response.status_code']).toBe(201)
      const insert = await exported(() => {
        const span = childrenOf(server).find((s) =>
          /^insert into "projects"/i.test(String(s.attributes['db.query.text'])),
        )
        if (!span) throw new Error('no insert span yet')
        return span
      })
      expect(insert.name).toBe('INSERT')
      expect(String(insert.attributes['db.query.text'])).toContain('$1')
      expect(JSON.stringify(collector.spans)).not.toContain(secret)
    })

    test("a caller's W3C traceparent is continued, down to the readiness check's statement", async () => {
      const traceId = crypto.randomUUID().replaceAll('-', '')
      const parentId = crypto.randomUUID().replaceAll('-', '').slice(0, 16)
      const rid = `trace-parent-${crypto.randomUUID()}`
      const res = await h().call('GET', '/ready', {
        headers: { traceparent: `00-${traceId}-${parentId}-01`, 'x-request-id': rid },
      })
      expect(res.status).toBe(200)

      const server = await exported(() => serverSpanOf(rid))
      expect(server.name).toBe('GET /ready')
      expect(server.traceId).toBe(traceId)
      expect(server.parentSpanId).toBe(parentId)
      const [ping] = await exported(() => {
        const children = childrenOf(server)
        expect(children).toHaveLength(1)
        return children
      })
      expect(ping?.attributes['db.query.text']).toBe('select 1')
    })

    test('a request that matches no route is named after its method alone', async () => {
      const rid = `trace-404-${crypto.randomUUID()}`
      const res = await h().call('GET', `/api/v1/no-such-thing/${crypto.randomUUID()}`, {
        headers: { 'x-request-id': rid },
      })
      expect(res.status).toBe(404)
      const server = await exported(() => serverSpanOf(rid))
      expect(server.name).toBe('GET')
      expect(server.attributes['http.route']).toBeUndefined()
      expect(server.attributes['http.response.status_code']).toBe(404)
      expect(server.status.code).not.toBe(STATUS_ERROR)
    })
  },
  { env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url } },
)

describe('Tracing configuration (issue 5)', () => {
  test('OTEL_EXPORTER_OTLP_ENDPOINT is off by default, and OTEL_SERVICE_NAME defaults to neoforge', () => {
    expect(testConfig().otel).toEqual({ endpoint: null, serviceName: 'neoforge' })
    expect(
      testConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example.test:4318',
        OTEL_SERVICE_NAME: 'forge-eu',
      }).otel,
    ).toEqual({ endpoint: 'https://otel.example.test:4318', serviceName: 'forge-eu' })
  })

  test('an OTEL_EXPORTER_OTLP_ENDPOINT that is not an http(s) URL stops the start', () => {
    for (const endpoint of ['collector:4318', 'grpc://collector:4317', 'not a url']) {
      expect(() => testConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint })).toThrow(ConfigError)
    }
  })
})

describe('Tracing: server errors (issue 5)', () => {
  test('a 5xx marks the request span as an error and records the exception', async () => {
    const tracing = createTracing({ endpoint: collector.url, serviceName: 'neoforge-errors' })
    if (!tracing) throw new Error('tracing is on when an endpoint is set')
    const app = new Elysia()
      .use(requestId)
      .use(tracing.plugin)
      .use(errors(createLogger('silent')))
      .get('/boom/:id', () => {
        throw new Error('kaboom')
      })
    const rid = `trace-500-${crypto.randomUUID()}`
    const res = await app.handle(new Request('http://localhost/boom/1', { headers: { 'x-request-id': rid } }))
    expect(res.status).toBe(500)

    const server = await eventually(async () => {
      await tracing.forceFlush()
      return serverSpanOf(rid)
    })
    expect(server.name).toBe('GET /boom/:id')
    expect(server.resource['service.name']).toBe('neoforge-errors')
    expect(server.attributes).toMatchObject({ 'http.response.status_code': 500, 'error.type': '500' })
    expect(server.status.code).toBe(STATUS_ERROR)
    expect(server.events).toContainEqual({
      name: 'exception',
      attributes: expect.objectContaining({ 'exception.message': 'kaboom' }),
    })
    await tracing.shutdown()
  })
})

describe('Tracing in a server process (issue 5)', () => {
  test('SIGTERM exports the spans still waiting for their batch before the process exits', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'neoforge-tracing-'))
    let database: TestDatabase | undefined
    try {
      let env: Record<string, string>
      if (process.env.TEST_DATABASE_URL) {
        database = await createTestDatabase('postgres')
        env = { DATABASE_URL: database.url as string }
      } else {
        // A migrated copy of the test template, so that the server skips initdb and migrations.
        const template = await createTestDatabase('pglite')
        const dump = await template.handle.dump?.()
        await template.drop()
        await (await openDatabase({ dataDir: join(dataDir, 'pglite'), loadDataDir: dump })).close()
        env = { DATA_DIR: dataDir }
      }
      const server = await startServer(
        { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, LOG_LEVEL: 'info' },
        { readyTimeoutMs: 60_000 },
      )
      const rid = `trace-sigterm-${crypto.randomUUID()}`
      const res = await fetch(`${server.url}/ready`, { headers: { 'x-request-id': rid } })
      expect(res.status).toBe(200)
      // Well inside the 5 s batch delay: only the shutdown flush can have sent them.
      const code = await server.stop('SIGTERM')
      const span = collector.spans.find((s) => s.attributes['request.id'] === rid)
      if (code !== 0 || !span)
        throw new Error(
          `exit ${code}, span ${span ? 'exported' : 'missing'}; the server said:\n${server.output()}`,
        )
      expect(span.name).toBe('GET /ready')
      expect(span.attributes['http.response.status_code']).toBe(200)
      expect(childrenOf(span).map((s) => s.attributes['db.query.text'])).toEqual(['select 1'])
    } finally {
      await database?.drop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})

describeEachDatabase('Tracing without OTEL_EXPORTER_OTLP_ENDPOINT (issue 5)', (h) => {
  test('createTracing returns null, the app has no tracing and no request reaches a collector', async () => {
    expect(createTracing({ endpoint: null, serviceName: 'neoforge' })).toBeNull()
    expect(h().app.tracing).toBeNull()
    for (const path of ['/health', '/ready', '/api/v1/projects']) await h().call('GET', path)
    await Bun.sleep(100)
    expect(silentCollector.requests).toEqual([])
  })

  test('building the app without an endpoint loads no OpenTelemetry module', async () => {
    const script = `
      import { createApp } from './server/app'
      import { loadConfig } from './server/config'
      import { createTracing } from './server/http/tracing'
      const config = loadConfig({ NODE_ENV: 'test', APP_SECRET: 'x'.repeat(32), DATA_DIR: '/tmp/neoforge-test-unused' })
      if (typeof createApp !== 'function' || createTracing(config.otel) !== null) process.exit(2)
      const loaded = Object.keys(require.cache)
      console.log(JSON.stringify({ modules: loaded.length, otel: loaded.filter((k) => k.includes('@opentelemetry')) }))
    `
    const child = Bun.spawn([process.execPath, '-e', script], {
      cwd: `${import.meta.dir}/../..`,
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [out, err, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ])
    expect({ code, err }).toEqual({ code: 0, err: '' })
    const result = JSON.parse(out) as { modules: number; otel: string[] }
    expect(result.modules).toBeGreaterThan(100)
    expect(result.otel).toEqual([])
  })
})
