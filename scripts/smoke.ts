#!/usr/bin/env bun
/**
 * End-to-end smoke test of a running NeoForge server (docs/operations.md, "Smoke test").
 *
 *   bun scripts/smoke.ts [--keep-going] [URL]     # default http://localhost:3000
 *
 * Runs the steps below in order, prints one line per step with its duration, and stops at the
 * first failure with what was expected and what came back (exit status 1); with --keep-going it
 * runs every step and exits 1 if any failed. Exit status 2 is a usage error. It creates one account (unless SMOKE_EMAIL and SMOKE_PASSWORD name an existing
 * one), one project that it deletes again, and one session that it signs out.
 *
 * Environment:
 *   SMOKE_EMAIL, SMOKE_PASSWORD  sign in as this account instead of registering a new one (the
 *                                register policy allows 5 sign-ups per hour per IP by default)
 *   METRICS_TOKEN                bearer token for /metrics, when the server requires one
 *   SMOKE_TIMEOUT_MS             per-request timeout (default 10000)
 */

import { metricFamilies } from '../server/http/metrics'

const FAMILIES = Object.keys(metricFamilies)

const RATE_LIMIT_HEADERS = [
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'RateLimit-Policy',
  'RateLimit',
]

class StepFailure extends Error {
  constructor(
    readonly expected: string,
    readonly got: string,
    readonly hint?: string,
  ) {
    super(`expected ${expected}, got ${got}`)
  }
}

interface Reply {
  method: string
  path: string
  status: number
  headers: Headers
  text: string
  // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field before use
  json: any
}

const usage = 'usage: bun scripts/smoke.ts [--keep-going] [URL]   (default http://localhost:3000)'
const argv = process.argv.slice(2)
if (argv.includes('-h') || argv.includes('--help')) {
  console.log(usage)
  process.exit(0)
}
const keepGoing = argv.includes('--keep-going')
const args = argv.filter((arg) => arg !== '--keep-going')
if (args.length > 1 || args.some((arg) => arg.startsWith('-'))) {
  console.error(usage)
  process.exit(2)
}
let base: URL
try {
  base = new URL(args[0] ?? process.env.SMOKE_URL ?? 'http://localhost:3000')
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http(s)')
} catch {
  console.error(`smoke: ${JSON.stringify(args[0])} is not an http(s) URL\n${usage}`)
  process.exit(2)
}
const origin = base.toString().replace(/\/+$/, '')
const timeoutMs = Number(process.env.SMOKE_TIMEOUT_MS ?? 10_000)

/** One line of what came back, for failure messages. */
function describe(reply: Reply): string {
  const requestId = reply.headers.get('x-request-id')
  const body = reply.text.length > 300 ? `${reply.text.slice(0, 300)}…` : reply.text
  return `${reply.status} from ${reply.method} ${reply.path}${requestId ? ` (request id ${requestId})` : ''}${body ? `: ${body}` : ' (empty body)'}`
}

async function call(
  method: string,
  path: string,
  options: { json?: unknown; body?: string; headers?: Record<string, string>; token?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers }
  let body = options.body
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json'
    body = JSON.stringify(options.json)
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  let response: Response
  try {
    response = await fetch(origin + path, {
      method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    throw new StepFailure(
      `a response from ${method} ${origin}${path}`,
      `no response (${reason})`,
      'is the server running at that URL?',
    )
  }
  const text = await response.text()
  let json: unknown = null
  try {
    json = text ? JSON.parse(text) : null
  } catch {
    json = null
  }
  return { method, path, status: response.status, headers: response.headers, text, json }
}

function expectStatus(reply: Reply, status: number, hint?: string): void {
  if (reply.status !== status) throw new StepFailure(`status ${status}`, describe(reply), hint)
}

function expectHeader(reply: Reply, name: string, test?: RegExp): string {
  const value = reply.headers.get(name)
  if (value === null) throw new StepFailure(`header ${name}`, `no ${name} on ${describe(reply)}`)
  if (test && !test.test(value)) throw new StepFailure(`${name} matching ${test}`, `${name}: ${value}`)
  return value
}

function expectThat(condition: unknown, expected: string, got: string): asserts condition {
  if (!condition) throw new StepFailure(expected, got)
}

// ---------------------------------------------------------------------------------- the steps

const state: {
  email: string
  password: string
  token: string
  projectId: string
  projectBody: string
  etag: string
  idempotencyKey: string
} = {
  email: process.env.SMOKE_EMAIL ?? `smoke-${crypto.randomUUID().slice(0, 12)}@example.com`,
  password: process.env.SMOKE_PASSWORD ?? `smoke-${crypto.randomUUID()}`,
  token: '',
  projectId: '',
  projectBody: '',
  etag: '',
  idempotencyKey: `smoke-${crypto.randomUUID()}`,
}
const projectInput = { name: `smoke ${new Date().toISOString()}`, description: 'created by scripts/smoke.ts' }

type Step = { name: string; run: () => Promise<string> }

const steps: Step[] = [
  {
    name: 'GET /health is 200 {status: "ok", version}',
    async run() {
      const reply = await call('GET', '/health')
      expectStatus(reply, 200)
      expectThat(
        reply.json?.status === 'ok' && typeof reply.json?.version === 'string',
        'a body {"status":"ok","version":"…"}',
        describe(reply),
      )
      return `version ${reply.json.version}`
    },
  },
  {
    name: 'GET /ready is 200 (database answers)',
    async run() {
      const reply = await call('GET', '/ready')
      expectStatus(reply, 200, 'the database does not answer: check DATABASE_URL and the server log')
      return reply.text
    },
  },
  {
    name: 'GET /swagger/json is an OpenAPI document',
    async run() {
      const reply = await call('GET', '/swagger/json')
      expectStatus(reply, 200)
      const paths = Object.keys(reply.json?.paths ?? {})
      expectThat(
        typeof reply.json?.openapi === 'string' && paths.length > 0,
        'an OpenAPI document with paths',
        describe(reply),
      )
      const operations = paths.reduce(
        (sum, path) => sum + Object.keys(reply.json.paths[path]).filter((k) => k !== 'parameters').length,
        0,
      )
      return `openapi ${reply.json.openapi}, ${paths.length} paths, ${operations} operations`
    },
  },
  {
    name: 'POST /api/v1/auth/register creates an account (201)',
    async run() {
      if (process.env.SMOKE_EMAIL && process.env.SMOKE_PASSWORD)
        return `skipped: using SMOKE_EMAIL ${state.email}`
      const reply = await call('POST', '/api/v1/auth/register', {
        json: { email: state.email, password: state.password, full_name: 'Smoke Test' },
      })
      expectStatus(
        reply,
        201,
        reply.status === 429
          ? `the register rate limit is used up (RATE_LIMIT_REGISTER, default 5 an hour per IP): retry in ${reply.headers.get('retry-after') ?? '?'} s, or set SMOKE_EMAIL and SMOKE_PASSWORD to an existing account`
          : undefined,
      )
      expectThat(
        reply.json?.email?.toLowerCase() === state.email.toLowerCase() && !/password/i.test(reply.text),
        `the new user ${state.email} without any password field`,
        describe(reply),
      )
      return `${reply.json.email} (id ${reply.json.id})`
    },
  },
  {
    name: 'POST /api/v1/auth/token (JSON) signs in (200, bearer tokens)',
    async run() {
      const reply = await call('POST', '/api/v1/auth/token', {
        json: { email: state.email, password: state.password },
      })
      expectStatus(reply, 200)
      const body = reply.json
      expectThat(
        typeof body?.access_token === 'string' &&
          typeof body?.refresh_token === 'string' &&
          String(body?.token_type).toLowerCase() === 'bearer' &&
          typeof body?.expires_in === 'number',
        '{access_token, token_type: "bearer", expires_in, refresh_token, session_id}',
        describe(reply),
      )
      state.token = body.access_token
      return `expires_in ${body.expires_in} s, session ${body.session_id}`
    },
  },
  {
    name: 'GET /api/v1/auth/me returns the signed-in user',
    async run() {
      const reply = await call('GET', '/api/v1/auth/me', { token: state.token })
      expectStatus(reply, 200)
      expectThat(
        reply.json?.email?.toLowerCase() === state.email.toLowerCase(),
        `the user ${state.email}`,
        describe(reply),
      )
      return `${reply.json.email}, role ${reply.json.role}`
    },
  },
  {
    name: 'POST /api/v1/projects with Idempotency-Key creates (201 + Location)',
    async run() {
      const reply = await call('POST', '/api/v1/projects', {
        json: projectInput,
        token: state.token,
        headers: { 'idempotency-key': state.idempotencyKey },
      })
      expectStatus(reply, 201)
      expectThat(reply.json?.id !== undefined, 'a project with an id', describe(reply))
      const location = expectHeader(reply, 'Location')
      expectThat(
        location.endsWith(`/api/v1/projects/${reply.json.id}`),
        `Location ending in /api/v1/projects/${reply.json.id}`,
        `Location: ${location}`,
      )
      expectThat(
        reply.headers.get('idempotent-replayed') !== 'true',
        'no Idempotent-Replayed: true on the first request',
        'Idempotent-Replayed: true',
      )
      state.projectId = String(reply.json.id)
      state.projectBody = reply.text
      return `project ${state.projectId}, Location ${location}`
    },
  },
  {
    name: 'the same Idempotency-Key and body replay the stored response',
    async run() {
      const reply = await call('POST', '/api/v1/projects', {
        json: projectInput,
        token: state.token,
        headers: { 'idempotency-key': state.idempotencyKey },
      })
      expectStatus(reply, 201)
      expectHeader(reply, 'Idempotent-Replayed', /^true$/)
      expectThat(
        reply.text === state.projectBody,
        `the first response's body byte for byte: ${state.projectBody.slice(0, 200)}`,
        describe(reply),
      )
      return 'Idempotent-Replayed: true, identical body'
    },
  },
  {
    name: 'GET /api/v1/projects/{id} with If-None-Match: <ETag> is 304',
    async run() {
      const first = await call('GET', `/api/v1/projects/${state.projectId}`, { token: state.token })
      expectStatus(first, 200)
      state.etag = expectHeader(first, 'ETag')
      const reply = await call('GET', `/api/v1/projects/${state.projectId}`, {
        token: state.token,
        headers: { 'if-none-match': state.etag },
      })
      expectStatus(reply, 304)
      expectThat(reply.text === '', 'an empty body', describe(reply))
      expectThat(
        reply.headers.get('etag') === state.etag,
        `ETag ${state.etag} on the 304`,
        `ETag ${reply.headers.get('etag')}`,
      )
      // Item ETags are strong, derived from the row's version (CONTRACT §4): If-Match needs that.
      expectThat(
        /^"[^"]*"$/.test(state.etag),
        'a strong item ETag ("…", CONTRACT §4)',
        `ETag: ${state.etag} (the 304 itself worked)`,
      )
      return `ETag ${state.etag}`
    },
  },
  {
    name: 'API responses carry the rate-limit headers',
    async run() {
      const reply = await call('GET', '/api/v1/auth/me', { token: state.token })
      expectStatus(reply, 200)
      const missing = RATE_LIMIT_HEADERS.filter((name) => reply.headers.get(name) === null)
      expectThat(
        missing.length === 0,
        RATE_LIMIT_HEADERS.join(', '),
        `no ${missing.join(', ')} on ${describe(reply)}`,
      )
      const limit = expectHeader(reply, 'X-RateLimit-Limit', /^\d+$/)
      const remaining = expectHeader(reply, 'X-RateLimit-Remaining', /^\d+$/)
      const reset = expectHeader(reply, 'X-RateLimit-Reset', /^\d+$/)
      expectThat(
        Number(reset) >= Math.floor(Date.now() / 1000) - 5,
        'X-RateLimit-Reset in Unix epoch seconds, not in the past',
        `X-RateLimit-Reset: ${reset}`,
      )
      const policy = expectHeader(reply, 'RateLimit-Policy', /^"[a-z]+";q=\d+;w=\d+$/)
      const current = expectHeader(reply, 'RateLimit', /^"[a-z]+";r=\d+;t=\d+$/)
      return `limit ${limit}, remaining ${remaining}; RateLimit-Policy: ${policy}; RateLimit: ${current}`
    },
  },
  {
    name: 'POST /api/v1/security/csp-report (application/csp-report) is 204',
    async run() {
      const reply = await call('POST', '/api/v1/security/csp-report', {
        headers: { 'content-type': 'application/csp-report' },
        body: JSON.stringify({
          'csp-report': {
            'document-uri': `${origin}/admin`,
            referrer: '',
            'violated-directive': 'script-src-elem',
            'effective-directive': 'script-src-elem',
            'original-policy': "default-src 'self'; report-uri /api/v1/security/csp-report",
            disposition: 'report',
            'blocked-uri': 'https://smoke.invalid/injected.js',
            'status-code': 200,
            'script-sample': '',
          },
        }),
      })
      expectStatus(
        reply,
        204,
        reply.status === 404
          ? 'the CSP report endpoint is not there: is this build older than CONTRACT §9?'
          : undefined,
      )
      return 'accepted'
    },
  },
  {
    name: 'DELETE /api/v1/projects/{id} removes the smoke project (204)',
    async run() {
      const reply = await call('DELETE', `/api/v1/projects/${state.projectId}`, {
        token: state.token,
        headers: { 'if-match': state.etag },
      })
      expectStatus(reply, 204)
      return `project ${state.projectId} deleted`
    },
  },
  {
    name: 'POST /api/v1/auth/logout ends the session (204)',
    async run() {
      const reply = await call('POST', '/api/v1/auth/logout', { token: state.token })
      expectStatus(reply, 204)
      const after = await call('GET', '/api/v1/auth/me', { token: state.token })
      expectStatus(
        after,
        401,
        'the access token of a signed-out session must stop working at once (CONTRACT §7)',
      )
      return 'signed out; its access token is now 401'
    },
  },
  {
    name: 'GET /metrics declares every NeoForge metric family',
    async run() {
      const token = process.env.METRICS_TOKEN
      const reply = await call('GET', '/metrics', {
        headers: { accept: 'text/plain' },
        ...(token ? { token } : {}),
      })
      expectStatus(
        reply,
        200,
        reply.status === 401 ? "set METRICS_TOKEN to the server's metrics token" : undefined,
      )
      expectHeader(reply, 'Content-Type', /^text\/plain/)
      const declared = new Set([...reply.text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]))
      const missing = FAMILIES.filter((name) => !declared.has(name))
      expectThat(
        missing.length === 0,
        `# TYPE lines for ${FAMILIES.join(', ')}`,
        `no ${missing.join(', ')} (declared: ${[...declared].join(', ')})`,
      )
      const samples = reply.text.split('\n').filter((line) => line && !line.startsWith('#')).length
      return `${FAMILIES.length} families declared, ${declared.size} in all, ${samples} samples`
    },
  },
]

// ---------------------------------------------------------------------------------- the runner

const width = Math.max(...steps.map((step) => step.name.length))
const formatMs = (ms: number) => `${Math.round(ms)} ms`.padStart(7)
console.log(`smoke: ${steps.length} steps against ${origin}`)
const started = performance.now()
let passed = 0
const failed: string[] = []
for (const [index, step] of steps.entries()) {
  const at = performance.now()
  const label = `${String(index + 1).padStart(2)}. ${step.name.padEnd(width)}`
  try {
    const detail = await step.run()
    passed += 1
    console.log(`PASS ${label} ${formatMs(performance.now() - at)}  ${detail}`)
  } catch (error) {
    console.log(`FAIL ${label} ${formatMs(performance.now() - at)}`)
    if (error instanceof StepFailure) {
      console.log(`       expected: ${error.expected}`)
      console.log(`       got:      ${error.got}`)
      if (error.hint) console.log(`       hint:     ${error.hint}`)
    } else {
      console.log(
        `       unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      )
    }
    failed.push(`${index + 1}`)
    if (!keepGoing) {
      console.log(
        `smoke: FAILED at step ${index + 1}/${steps.length} — ${step.name} — after ${passed} passed, in ${formatMs(performance.now() - started).trim()}`,
      )
      process.exit(1)
    }
  }
}
const total = formatMs(performance.now() - started).trim()
if (failed.length > 0) {
  console.log(
    `smoke: FAILED: ${passed} passed, ${failed.length} failed (${failed.length === 1 ? 'step' : 'steps'} ${failed.join(', ')}) against ${origin} in ${total}`,
  )
  process.exit(1)
}
console.log(`smoke: all ${passed} steps passed against ${origin} in ${total}`)
