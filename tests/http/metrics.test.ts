import { expect, test } from 'bun:test'
import { MetricsRegistry, metricFamilies } from '../../server/http/metrics'
import { describeEachDatabase } from '../support/app'
import { eventually } from '../support/eventually'

describeEachDatabase(
  'metrics behind METRICS_TOKEN',
  (h) => {
    test('CONTRACT §9: with METRICS_TOKEN set, /metrics needs that bearer token', async () => {
      expect((await h().request('/metrics')).status).toBe(401)
      const wrong = await h().request('/metrics', {
        headers: { authorization: 'Bearer not-the-metrics-token' },
      })
      expect(wrong.status).toBe(401)
      expect(wrong.headers.get('content-type')).toBe('application/problem+json')
      const right = await h().request('/metrics', {
        headers: { authorization: 'Bearer metrics-token-for-tests' },
      })
      expect(right.status).toBe(200)
      expect(right.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
    })
  },
  { env: { METRICS_TOKEN: 'metrics-token-for-tests' } },
)

describeEachDatabase('metrics', (h) => {
  test('CONTRACT §9: every family is declared from start, labelled by route template, never a raw id', async () => {
    await h().request('/api/v1/projects/00000000-0000-4000-8000-000000000000')
    await h().request('/no/such/route')
    const text = await eventually(async () => {
      const body = await (await h().request('/metrics')).text()
      expect(body).toContain('route="unmatched"')
      return body
    })
    for (const family of Object.keys(metricFamilies)) {
      expect(text).toContain(`# TYPE ${family} `)
    }
    expect(text).toContain('route="/api/v1/projects/:id"')
    expect(text).toContain('route="unmatched"')
    expect(text).not.toContain('00000000-0000-4000-8000-000000000000')
    expect(text).toMatch(/^auth_logins_total\{outcome="wrong_password"\} 0$/m)
    expect(text).toMatch(/^cron_job_runs_total\{job="sessions",outcome="failure"\} 0$/m)
  })
})

test('CONTRACT §9: histogram buckets are cumulative (le), with +Inf, _sum and _count', () => {
  const registry = new MetricsRegistry()
  const histogram = registry.histogram('latency_seconds', 'Latency.', ['route'], [0.1, 1])
  for (const value of [0.05, 0.1, 0.5, 2]) histogram.observe({ route: '/x' }, value)
  const lines = registry.render().split('\n')
  expect(lines).toContain('latency_seconds_bucket{route="/x",le="0.1"} 2')
  expect(lines).toContain('latency_seconds_bucket{route="/x",le="1"} 3')
  expect(lines).toContain('latency_seconds_bucket{route="/x",le="+Inf"} 4')
  expect(lines).toContain('latency_seconds_sum{route="/x"} 2.65')
  expect(lines).toContain('latency_seconds_count{route="/x"} 4')
})
