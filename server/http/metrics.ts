import { timingSafeEqual } from 'node:crypto'
import { Elysia, StatusMap } from 'elysia'
import { unauthenticated } from './problem'
import { requestMeta } from './request-id'

/**
 * A small Prometheus registry. Each plugin registers the families it owns when the app is built,
 * so every family is declared (HELP/TYPE) before its first sample, and renders in text format 0.0.4.
 */
interface Family {
  render(): string
}

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const formatLabels = (names: readonly string[], values: readonly string[], extra = '') => {
  const pairs = names.map((name, i) => `${name}="${escapeLabel(values[i] ?? '')}"`)
  if (extra) pairs.push(extra)
  return pairs.length ? `{${pairs.join(',')}}` : ''
}
/**
 * The series of one family, found by their label values in declaration order through a tree of
 * maps: a lookup on the hot path (every response counts one) builds no key string. Kept in
 * first-use order for rendering.
 */
class Series<E> {
  private readonly root: SeriesNode<E> = { children: new Map() }
  readonly all: E[] = []
  constructor(private readonly names: readonly string[]) {}

  get(labels: Record<string, string>): E | undefined {
    let node: SeriesNode<E> | undefined = this.root
    for (const name of this.names) {
      node = node.children.get(labels[name] as string)
      if (!node) return undefined
    }
    return node.entry
  }

  add(labels: Record<string, string>, entry: E): E {
    let node = this.root
    for (const name of this.names) {
      const value = labels[name] as string
      let child = node.children.get(value)
      if (!child) {
        child = { children: new Map() }
        node.children.set(value, child)
      }
      node = child
    }
    node.entry = entry
    this.all.push(entry)
    return entry
  }
}

interface SeriesNode<E> {
  entry?: E
  children: Map<string, SeriesNode<E>>
}

const formatNumber = (value: number) =>
  Number.isFinite(value) ? String(value) : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN'

export class Counter<const L extends string = never> implements Family {
  private readonly series: Series<{ values: string[]; value: number }>
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[] = [],
  ) {
    this.series = new Series(labelNames)
  }

  inc(labels: Record<L, string> = {} as Record<L, string>, by = 1): void {
    const entry = this.series.get(labels)
    if (entry) entry.value += by
    else this.series.add(labels, { values: this.labelNames.map((name) => labels[name]), value: by })
  }

  /** Declares a series at 0, so that alerts see it before its first increment. */
  init(labels: Record<L, string>): void {
    this.inc(labels, 0)
  }

  /** The current value, for tests and the console. */
  get(labels: Record<L, string> = {} as Record<L, string>): number {
    return this.series.get(labels)?.value ?? 0
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`]
    for (const { values, value } of this.series.all) {
      lines.push(`${this.name}${formatLabels(this.labelNames, values)} ${formatNumber(value)}`)
    }
    return lines.join('\n')
  }
}

export class Histogram<const L extends string = never> implements Family {
  private readonly series: Series<{ values: string[]; counts: number[]; sum: number; count: number }>
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    readonly buckets: readonly number[],
  ) {
    this.series = new Series(labelNames)
  }

  /** Counts the one bucket `value` falls in; render() adds them up into Prometheus' cumulative `le`. */
  observe(labels: Record<L, string>, value: number): void {
    const entry =
      this.series.get(labels) ??
      this.series.add(labels, {
        values: this.labelNames.map((name) => labels[name]),
        counts: this.buckets.map(() => 0),
        sum: 0,
        count: 0,
      })
    let bucket = 0
    while (bucket < this.buckets.length && value > (this.buckets[bucket] as number)) bucket++
    if (bucket < this.buckets.length) entry.counts[bucket] = (entry.counts[bucket] ?? 0) + 1
    entry.sum += value
    entry.count += 1
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    for (const { values, counts, sum, count } of this.series.all) {
      let cumulative = 0
      this.buckets.forEach((bound, i) => {
        cumulative += counts[i] ?? 0
        lines.push(
          `${this.name}_bucket${formatLabels(this.labelNames, values, `le="${bound}"`)} ${cumulative}`,
        )
      })
      lines.push(`${this.name}_bucket${formatLabels(this.labelNames, values, 'le="+Inf"')} ${count}`)
      lines.push(`${this.name}_sum${formatLabels(this.labelNames, values)} ${formatNumber(sum)}`)
      lines.push(`${this.name}_count${formatLabels(this.labelNames, values)} ${count}`)
    }
    return lines.join('\n')
  }
}

/**
 * Every family NeoForge exports (CONTRACT §9), with its type: the list the smoke check, the ops
 * tests and the dashboard are held to. The plugins that own them register them at start.
 */
export const metricFamilies = {
  http_requests_total: 'counter',
  http_request_duration_seconds: 'histogram',
  rate_limit_violations_total: 'counter',
  security_threat_blocks_total: 'counter',
  idempotency_replays_total: 'counter',
  idempotency_conflicts_total: 'counter',
  csp_reports_total: 'counter',
  cron_job_runs_total: 'counter',
  auth_logins_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  process_cpu_seconds_total: 'counter',
  process_start_time_seconds: 'gauge',
} as const

/** A value read at scrape time (memory, uptime), never stored. */
export class Gauge implements Family {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => number,
    readonly type: 'gauge' | 'counter' = 'gauge',
  ) {}

  render(): string {
    return [
      `# HELP ${this.name} ${this.help}`,
      `# TYPE ${this.name} ${this.type}`,
      `${this.name} ${formatNumber(this.read())}`,
    ].join('\n')
  }
}

export class MetricsRegistry {
  private readonly families = new Map<string, Family>()

  counter<const L extends string = never>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
  ): Counter<L> {
    return this.register(name, new Counter(name, help, labelNames))
  }

  histogram<const L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: readonly number[],
  ) {
    return this.register(name, new Histogram(name, help, labelNames, buckets))
  }

  gauge(name: string, help: string, read: () => number, type: 'gauge' | 'counter' = 'gauge'): Gauge {
    return this.register(name, new Gauge(name, help, read, type))
  }

  render(): string {
    return `${[...this.families.values()].map((family) => family.render()).join('\n')}\n`
  }

  private register<F extends Family>(name: string, family: F): F {
    if (this.families.has(name)) throw new Error(`metric ${name} is registered twice`)
    this.families.set(name, family)
    return family
  }
}

export function createMetricsRegistry(): MetricsRegistry {
  const registry = new MetricsRegistry()
  const startedAt = Date.now() / 1000
  registry.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () =>
    process.memoryUsage.rss(),
  )
  registry.gauge(
    'process_heap_bytes',
    'JavaScript heap in use, in bytes.',
    () => process.memoryUsage().heapUsed,
  )
  registry.gauge(
    'process_cpu_seconds_total',
    'Total user and system CPU time spent in seconds.',
    () => {
      const { user, system } = process.cpuUsage()
      return (user + system) / 1e6
    },
    'counter',
  )
  registry.gauge(
    'process_start_time_seconds',
    'Start time of the process since unix epoch in seconds.',
    () => startedAt,
  )
  return registry
}

/** Elysia keeps named statuses (`'Created'`) in `set.status` when handlers use them. */
export function numericStatus(status: number | string | undefined): number {
  if (typeof status === 'number') return status
  if (status === undefined) return 200
  return (StatusMap as Record<string, number>)[status] ?? 200
}

/** The label for a request: its route template, never a raw path with ids in it. */
export const routeLabel = (route: string | undefined) => route || 'unmatched'

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * `http_requests_total` and `http_request_duration_seconds` by route template, and `GET /metrics`,
 * behind a bearer token when `METRICS_TOKEN` is set.
 */
export const metrics = (registry: MetricsRegistry, options: { token: string | null } = { token: null }) => {
  const expected = options.token ? Buffer.from(`Bearer ${options.token}`) : null
  const requests = registry.counter('http_requests_total', 'HTTP requests answered.', [
    'method',
    'route',
    'status',
  ])
  const duration = registry.histogram(
    'http_request_duration_seconds',
    'Time from request to response, in seconds.',
    ['method', 'route'],
    LATENCY_BUCKETS,
  )
  return new Elysia({ name: 'metrics' })
    .onAfterResponse({ as: 'global' }, ({ request, route, set }) => {
      const labels = { method: request.method, route: routeLabel(route) }
      requests.inc({ ...labels, status: String(numericStatus(set.status)) })
      duration.observe(labels, (performance.now() - requestMeta(request).startedAt) / 1000)
    })
    .get(
      '/metrics',
      ({ request, set }) => {
        if (expected) {
          const presented = Buffer.from(request.headers.get('authorization') ?? '')
          if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
            throw unauthenticated('GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`.')
          }
        }
        set.headers['content-type'] = 'text/plain; version=0.0.4; charset=utf-8'
        return registry.render()
      },
      { detail: { tags: ['operations'], summary: 'Prometheus metrics' } },
    )
}
