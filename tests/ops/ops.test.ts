import { beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { metricFamilies } from '../../server/http/metrics'
import { describeEachDatabase } from '../support/app'

/**
 * The ops/ artefacts (alert rules, their unit tests, the Grafana dashboard) and the app's
 * /metrics output, checked with promtool (Debian package `prometheus`). Without promtool these
 * tests are skipped locally, and fail under CI=true: CI must install it.
 */
const ROOT = resolve(import.meta.dir, '../..')
const OPS = join(ROOT, 'ops')
const ALERTS = join(OPS, 'prometheus/alerts.yml')
const ALERT_TESTS = join(OPS, 'prometheus/alerts.test.yml')
const PROMETHEUS_CONFIG = join(OPS, 'prometheus/prometheus.yml')
const DASHBOARD = join(OPS, 'grafana/neoforge-dashboard.json')
const OPERATIONS_DOC = join(ROOT, 'docs/operations.md')

const promtool = existsSync('/usr/bin/promtool') ? '/usr/bin/promtool' : Bun.which('promtool')
const inCi = process.env.CI === 'true' || process.env.CI === '1'
const MISSING_PROMTOOL =
  'promtool is not installed: CI=true requires it (apt-get install -y prometheus, which provides /usr/bin/promtool)'
if (!promtool && !inCi) {
  console.warn(
    `tests/ops: skipping the promtool checks: ${MISSING_PROMTOOL.replace('CI=true requires', 'install')}`,
  )
}
/** Runs under CI always (and fails there without promtool); locally only when promtool exists. */
const promtoolTest = promtool || inCi ? test : test.skip

/** The metric families NeoForge exports (CONTRACT §9); `up` is added by Prometheus. */
const FAMILIES = metricFamilies
const SERIES_NAMES = new Set<string>(['up'])
for (const [name, type] of Object.entries(FAMILIES)) {
  if (type === 'histogram')
    for (const suffix of ['_bucket', '_sum', '_count']) SERIES_NAMES.add(name + suffix)
  else SERIES_NAMES.add(name)
}

function run(args: string[], stdin?: string) {
  if (!promtool) throw new Error(MISSING_PROMTOOL)
  const result = Bun.spawnSync({
    cmd: [promtool, ...args],
    cwd: ROOT,
    stdin: stdin === undefined ? 'ignore' : new TextEncoder().encode(stdin),
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const output = `${result.stdout.toString()}${result.stderr.toString()}`.trim()
  return { exitCode: result.exitCode, output }
}

/** Fails with promtool's own words, so a CI log says what is wrong. */
function expectSuccess(args: string[], stdin?: string): string {
  const { exitCode, output } = run(args, stdin)
  if (exitCode !== 0) throw new Error(`promtool ${args.join(' ')} exited ${exitCode}:\n${output}`)
  return output
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan'])

/**
 * Metric names a PromQL expression selects: what is left after dropping strings, label matchers,
 * ranges, grouping clauses, function calls and keywords.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\w+/g, ' ')
  const names = new Set<string>()
  for (const match of stripped.matchAll(/(?<![\w.$])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()/g)) {
    const name = match[1] as string
    if (!PROMQL_KEYWORDS.has(name.toLowerCase())) names.add(name)
  }
  return [...names]
}

interface Panel {
  id: number
  type: string
  title: string
  datasource?: { type: string; uid: string }
  targets?: { expr: string; refId: string; datasource?: { type: string; uid: string } }[]
  panels?: Panel[]
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
  schemaVersion: number
  uid: string
  title: string
  panels: Panel[]
  templating: { list: { name: string; type: string; query: unknown; definition?: string }[] }
}
const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])])
const targets = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })))

interface AlertRule {
  alert: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
const alertRules = (
  Bun.YAML.parse(readFileSync(ALERTS, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] }
).groups.flatMap((group) => group.rules)

describe('ops: Prometheus alert rules', () => {
  promtoolTest('promtool check rules ops/prometheus/alerts.yml', () => {
    const output = expectSuccess(['check', 'rules', ALERTS])
    expect(output).toContain('SUCCESS: 6 rules found')
  })

  promtoolTest('promtool test rules ops/prometheus/alerts.test.yml', () => {
    expect(expectSuccess(['test', 'rules', ALERT_TESTS])).toContain('SUCCESS')
  })

  promtoolTest('promtool check config ops/prometheus/prometheus.yml', () => {
    expectSuccess(['check', 'config', PROMETHEUS_CONFIG])
  })

  test('every alert has a severity, summary, description and a runbook section in docs/operations.md', () => {
    expect(alertRules.map((rule) => rule.alert)).toEqual([
      'NeoForgeHigh5xxRatio',
      'NeoForgeHighP99Latency',
      'NeoForgeRateLimitViolationSurge',
      'NeoForgeThreatBlockSurge',
      'NeoForgeCronJobFailing',
      'NeoForgeInstanceDown',
    ])
    const doc = existsSync(OPERATIONS_DOC) ? readFileSync(OPERATIONS_DOC, 'utf8') : ''
    // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
    const anchors = new Set(
      [...doc.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) =>
        (m[1] as string)
          .trim()
          .toLowerCase()
          .replace(/[^\w\- ]/g, '')
          .replace(/ /g, '-'),
      ),
    )
    for (const rule of alertRules) {
      const anchor = /\/docs\/operations\.md#([\w-]+)$/.exec(rule.annotations?.runbook_url ?? '')?.[1]
      expect({
        alert: rule.alert,
        severity: rule.labels?.severity,
        summary: Boolean(rule.annotations?.summary),
        description: Boolean(rule.annotations?.description),
        anchor,
        documented: anchors.has(anchor ?? ''),
      }).toEqual({
        alert: rule.alert,
        severity: expect.stringMatching(/^(critical|warning)$/),
        summary: true,
        description: true,
        anchor: rule.alert.toLowerCase(),
        documented: true,
      })
    }
  })

  test('the rules select only NeoForge metric names', () => {
    const unknown = alertRules.flatMap((rule) =>
      metricNamesIn(rule.expr)
        .filter((name) => !SERIES_NAMES.has(name))
        .map((name) => `${rule.alert}: ${name}`),
    )
    expect(unknown).toEqual([])
  })
})

describe('ops: Grafana dashboard', () => {
  test('is a schemaVersion 39 dashboard with a Prometheus datasource variable used by every query', () => {
    expect(dashboard.schemaVersion).toBe(39)
    expect(dashboard.uid).toBe('neoforge-overview')
    const datasource = dashboard.templating.list.find((variable) => variable.type === 'datasource')
    expect(datasource).toMatchObject({ name: 'datasource', query: 'prometheus' })
    const ids = panels.map((panel) => panel.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const { panel, target } of targets) {
      expect({ panel: panel.title, uid: target.datasource?.uid ?? panel.datasource?.uid }).toEqual({
        panel: panel.title,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template
        uid: '${datasource}',
      })
    }
  })

  test('has the panels operators rely on', () => {
    const titles = panels.map((panel) => panel.title)
    for (const title of [
      'Request rate by route',
      'Error ratio',
      'Latency p50 / p95 / p99 by route',
      'Rate-limit violations by policy',
      'Threat blocks by reason',
      'Idempotency replays and conflicts',
      'Logins by outcome',
      'Cron runs by job and outcome',
      'Resident memory (RSS)',
    ]) {
      expect(titles).toContain(title)
    }
    const latency = targets
      .filter(({ panel }) => panel.title.startsWith('Latency'))
      .map(({ target }) => target.expr)
    for (const quantile of ['0.5', '0.95', '0.99']) {
      expect(
        latency.some(
          (expr) => expr.startsWith(`histogram_quantile(${quantile},`) && expr.includes('by (route, le)'),
        ),
      ).toBe(true)
    }
  })

  test('queries only NeoForge metric names, and every family has a panel', () => {
    const used = new Set<string>()
    for (const { panel, target } of targets) {
      for (const name of metricNamesIn(target.expr)) {
        expect({ panel: panel.title, name, known: SERIES_NAMES.has(name) }).toEqual({
          panel: panel.title,
          name,
          known: true,
        })
        used.add(name)
      }
    }
    for (const variable of dashboard.templating.list) {
      for (const m of (variable.definition ?? '').matchAll(/label_values\(\s*([A-Za-z_:][\w:]*)/g)) {
        expect({ variable: variable.name, known: SERIES_NAMES.has(m[1] as string) }).toEqual({
          variable: variable.name,
          known: true,
        })
      }
    }
    const families = Object.keys(FAMILIES).filter(
      (family) => !used.has(family) && !used.has(`${family}_bucket`),
    )
    expect({ familiesWithoutPanel: families }).toEqual({ familiesWithoutPanel: [] })
  })

  promtoolTest('every panel query is valid PromQL (checked by promtool as recording rules)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'neoforge-dashboard-'))
    try {
      // Grafana's variables, replaced by values a plain Prometheus query could carry.
      const rules = targets.map(({ target }, i) => ({
        record: `dashboard:query_${i}`,
        expr: target.expr
          .replaceAll('$__rate_interval', '1m')
          .replaceAll('$__range', '1h')
          .replaceAll('$instance', '.*')
          .replaceAll('$route', '.*'),
      }))
      const file = join(dir, 'dashboard-queries.yml')
      // JSON is YAML: promtool reads this as a rule file.
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }, null, 2))
      expect(expectSuccess(['check', 'rules', file])).toContain(`SUCCESS: ${rules.length} rules found`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describeEachDatabase(
  'ops: /metrics',
  (h) => {
    let metricsText = ''

    beforeAll(async () => {
      // A little of everything, so the families have samples, not only HELP and TYPE.
      await h().request('/health')
      await h().request('/ready')
      await h().request('/.env') // threat block: probe path
      await h().request('/api/v1/status', { headers: { 'user-agent': 'sqlmap/1.7' } }) // scanner
      const email = `ops-${crypto.randomUUID().slice(0, 8)}@example.test`
      const password = 'correct horse battery staple'
      await h().call('POST', '/api/v1/auth/register', { body: { email, password } })
      const login = await h().call('POST', '/api/v1/auth/token', { body: { email, password } })
      await h().call('POST', '/api/v1/auth/token', { body: { email, password: 'wrong password!' } })
      await h().call('POST', '/api/v1/auth/token', { body: { email, password: 'wrong password!' } }) // 429
      const token = login.body?.access_token as string | undefined
      const headers = { 'idempotency-key': `ops-${crypto.randomUUID()}` }
      await h().call('POST', '/api/v1/projects', { token, headers, body: { name: 'ops' } })
      await h().call('POST', '/api/v1/projects', { token, headers, body: { name: 'ops' } }) // replay
      await h().call('POST', '/api/v1/projects', { token, headers, body: { name: 'other' } }) // reused
      await h().request('/api/v1/security/csp-report', {
        method: 'POST',
        headers: { 'content-type': 'application/csp-report' },
        body: JSON.stringify({
          'csp-report': {
            'document-uri': 'https://neoforge.test/admin',
            'violated-directive': 'script-src-elem',
            'effective-directive': 'script-src-elem',
            'blocked-uri': 'https://evil.example/x.js',
            disposition: 'enforce',
          },
        }),
      })
      await h().app.jobs.run('rate-limit-counters')
      // Request metrics are recorded after each response is sent: let the last ones land.
      await Bun.sleep(200)
      const res = await h().request('/metrics')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toStartWith('text/plain')
      metricsText = await res.text()
    }, 60_000)

    promtoolTest('promtool check metrics accepts the output', () => {
      expectSuccess(['check', 'metrics'], metricsText)
    })

    test('declares every family with HELP and TYPE', () => {
      const missing = Object.entries(FAMILIES).filter(
        ([name, type]) =>
          !metricsText.includes(`# TYPE ${name} ${type}\n`) || !metricsText.includes(`# HELP ${name} `),
      )
      expect({ missing: missing.map(([name, type]) => `${name} (${type})`) }).toEqual({ missing: [] })
    })

    test('has samples for the requests made, with route templates as labels', () => {
      expect(metricsText).toContain('http_requests_total{method="GET",route="/health",status="200"}')
      expect(metricsText).toMatch(/security_threat_blocks_total\{reason="[a-z_]+"\} \d/)
      expect(metricsText).toMatch(/rate_limit_violations_total\{policy="login"\} \d/)
      expect(metricsText).toContain(
        'http_requests_total{method="POST",route="/api/v1/auth/token",status="401"}',
      )
      expect(metricsText).toMatch(/csp_reports_total\{directive="script-src(-elem)?"\} \d/)
      expect(metricsText).toMatch(/cron_job_runs_total\{job="rate-limit-counters",outcome="success"\} \d/)
      // No raw ids in route labels.
      expect(metricsText).not.toMatch(/route="[^"]*\/[0-9a-f-]{8,}[^"]*"/)
    })
  },
  // A day-long window, so the three sign-ins (200, 401, 429) never straddle a window boundary.
  { env: { RATE_LIMIT_LOGIN: '2/86400' } },
)
