import { beforeAll, describe, expect, test } from 'bun:test'
import { cspReports } from '../../db/schema'
import { parseCspReports } from '../../server/features/security/service'
import { threatOf } from '../../server/http/threat-block'
import { describeEachDatabase } from '../support/app'
import { eventually } from '../support/eventually'
import { createSignedInUser, type TestUser } from '../support/users'

const BASE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
}

function expectSecurityHeaders(headers: Headers) {
  for (const [name, value] of Object.entries(BASE_HEADERS)) expect(headers.get(name)).toBe(value)
  expect(headers.get('permissions-policy')).toContain('camera=()')
  expect(headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
}

describe('threat classification', () => {
  test('CONTRACT §9: scanner agents and probe paths are recognised; ordinary text never is', () => {
    expect(threatOf('/health', 'sqlmap/1.7.2#stable (https://sqlmap.org)')).toBe('scanner_user_agent')
    expect(threatOf('/', 'Mozilla/5.00 (Nikto/2.5.0)')).toBe('scanner_user_agent')
    expect(threatOf('/.env', 'curl/8')).toBe('probe_path')
    expect(threatOf('/.git/config', null)).toBe('probe_path')
    expect(threatOf('/wp-admin/setup.php', null)).toBe('probe_path')
    expect(threatOf('/phpmyadmin/', null)).toBe('probe_path')
    expect(threatOf('/api/v1/projects', 'Mozilla/5.0')).toBeNull()
    expect(threatOf("/api/v1/community/posts/O'Brien--<b>", 'Mozilla/5.0')).toBeNull()
    expect(threatOf('/api/v1/environment', null)).toBeNull()
  })
})

describe('CSP report parsing', () => {
  test('CONTRACT §9: the three formats normalise to violations; anything else is a 400', () => {
    expect(parseCspReports({ 'csp-report': { 'violated-directive': 'img-src https:' } })[0]?.directive).toBe(
      'img-src',
    )
    expect(
      parseCspReports([{ type: 'csp-violation', body: { effectiveDirective: 'made-up-src' } }])[0]?.directive,
    ).toBe('other')
    for (const bad of [null, 42, 'text', [], {}, { 'csp-report': {} }, [{ type: 'deprecation', body: {} }]]) {
      expect(() => parseCspReports(bad)).toThrow()
    }
  })
})

describeEachDatabase('security headers and threat blocking', (h) => {
  let user: TestUser
  beforeAll(async () => {
    user = await createSignedInUser(h(), 'user')
  }, 30_000)

  test('CONTRACT §9: security headers on 200, 304 and problem responses', async () => {
    const ok = await h().call('GET', '/api/v1/status')
    expectSecurityHeaders(ok.headers)
    const notModified = await h().call('GET', '/api/v1/status', {
      headers: { 'if-none-match': ok.headers.get('etag') ?? '' },
    })
    expect(notModified.status).toBe(304)
    expectSecurityHeaders(notModified.headers)
    const problem = await h().call('GET', '/api/v1/nowhere')
    expect(problem.status).toBe(404)
    expectSecurityHeaders(problem.headers)
    expect(ok.headers.get('strict-transport-security')).toBeNull()
  })

  test('CONTRACT §9: outside production a report-only CSP names the report endpoint via report-uri and report-to', async () => {
    const res = await h().call('GET', '/health')
    const reportOnly = res.headers.get('content-security-policy-report-only') ?? ''
    expect(reportOnly).toContain('report-uri /api/v1/security/csp-report')
    expect(reportOnly).toContain('report-to csp-endpoint')
    expect(res.headers.get('reporting-endpoints')).toBe(
      'csp-endpoint="http://neoforge.test/api/v1/security/csp-report"',
    )
    const reportTo = JSON.parse(res.headers.get('report-to') ?? '{}')
    expect(reportTo.group).toBe('csp-endpoint')
    expect(reportTo.endpoints[0].url).toBe('http://neoforge.test/api/v1/security/csp-report')
  })

  test('CONTRACT §9: scanner user agents are refused (403) and probe paths answered 404, both counted', async () => {
    const scanner = await h().request('/api/v1/status', { headers: { 'user-agent': 'sqlmap/1.7' } })
    expect(scanner.status).toBe(403)
    expect(scanner.headers.get('content-type')).toBe('application/problem+json')
    expect(scanner.headers.get('x-ratelimit-limit')).toBeNull()
    for (const path of ['/.env', '/.git/HEAD', '/wp-admin/', '/phpmyadmin/index.php']) {
      const probe = await h().request(path)
      expect(probe.status).toBe(404)
    }
    await eventually(async () => {
      const metrics = await (await h().request('/metrics')).text()
      expect(metrics).toMatch(/^security_threat_blocks_total\{reason="scanner_user_agent"\} 1$/m)
      expect(metrics).toMatch(/^security_threat_blocks_total\{reason="probe_path"\} 4$/m)
    })
  })

  test('CONTRACT §9: an apostrophe, -- or < in a search or a post is never blocked', async () => {
    const search = await h().call('GET', `/api/v1/projects?q=${encodeURIComponent("O'Brien -- <script>")}`, {
      token: user.token,
    })
    expect(search.status).toBe(200)
    const post = await h().call('POST', '/api/v1/community/posts', {
      token: user.token,
      body: { title: "Don't -- <b>panic</b>", content: "SELECT * FROM users WHERE name = 'x' OR 1=1 --" },
    })
    expect(post.status).toBe(201)
    expect(post.body.title).toBe("Don't -- <b>panic</b>")
  })
})

describeEachDatabase(
  'security headers in production',
  (h) => {
    test('CONTRACT §9: HSTS in production, and no report-only policy', async () => {
      const res = await h().call('GET', '/health')
      expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains')
      expect(res.headers.get('content-security-policy-report-only')).toBeNull()
      expectSecurityHeaders(res.headers)
    })
  },
  { env: { NODE_ENV: 'production', DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused' } },
)

describeEachDatabase('CSP reports', (h) => {
  let staff: TestUser
  let user: TestUser
  beforeAll(async () => {
    staff = await createSignedInUser(h(), 'staff')
    user = await createSignedInUser(h(), 'user')
  }, 30_000)

  const report = (contentType: string, body: string) =>
    h().request('/api/v1/security/csp-report', {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
    })
  const stored = async () => (await h().database.handle.db.select().from(cspReports)).length

  test('CONTRACT §9: application/csp-report, application/reports+json and application/json are accepted with 204', async () => {
    const legacy = await report(
      'application/csp-report',
      JSON.stringify({
        'csp-report': {
          'document-uri': 'https://console.example/admin',
          'effective-directive': 'script-src-elem',
          'blocked-uri': 'inline',
          'line-number': 3,
        },
      }),
    )
    expect(legacy.status).toBe(204)
    const modern = await report(
      'application/reports+json',
      JSON.stringify([
        {
          type: 'csp-violation',
          url: 'https://console.example/admin',
          body: { effectiveDirective: 'img-src', blockedURL: 'https://cdn.example/x.png' },
        },
        {
          type: 'csp-violation',
          url: 'https://console.example/admin',
          body: { effectiveDirective: 'img-src' },
        },
      ]),
    )
    expect(modern.status).toBe(204)
    const plain = await report(
      'application/json',
      JSON.stringify({
        'csp-report': { 'violated-directive': 'style-src-attr', 'document-uri': 'https://x/' },
      }),
    )
    expect(plain.status).toBe(204)
    expect(await stored()).toBe(4)
    await eventually(async () => {
      const metrics = await (await h().request('/metrics')).text()
      expect(metrics).toMatch(/^csp_reports_total\{directive="img-src"\} 2$/m)
      expect(metrics).toMatch(/^csp_reports_total\{directive="script-src-elem"\} 1$/m)
    })
    expect(
      h().logLines.some((line) => line.includes('"csp violation"') && line.includes('script-src-elem')),
    ).toBe(true)
  })

  test('CONTRACT §9: malformed reports are 400, oversized 413, other media types 415; nothing is stored', async () => {
    const before = await stored()
    const malformed = await report('application/csp-report', '{"csp-report": ')
    expect(malformed.status).toBe(400)
    const wrongShape = await report('application/reports+json', '{"hello": "world"}')
    expect(wrongShape.status).toBe(400)
    expect(((await wrongShape.json()) as { code: string }).code).toBe('malformed_report')
    const huge = await report(
      'application/csp-report',
      JSON.stringify({
        'csp-report': { 'effective-directive': 'img-src', 'script-sample': 'x'.repeat(70_000) },
      }),
    )
    expect(huge.status).toBe(413)
    expect((await report('text/plain', 'hello')).status).toBe(415)
    expect(await stored()).toBe(before)
  })

  test('CONTRACT §9: staff read the latest reports; users and anonymous callers cannot', async () => {
    const list = await h().call('GET', '/api/v1/admin/csp-reports?directive=img-src', { token: staff.token })
    expect(list.status).toBe(200)
    expect(list.body.total).toBe(2)
    expect(list.body.items[0].directive).toBe('img-src')
    expect((await h().call('GET', '/api/v1/admin/csp-reports', { token: user.token })).status).toBe(403)
    expect((await h().call('GET', '/api/v1/admin/csp-reports')).status).toBe(401)
  })

  test('CONTRACT §9: the pruning job keeps reports within their retention', async () => {
    expect(await h().app.jobs.run('csp-reports')).toBe('success')
    expect(await stored()).toBe(4)
  })
})
