import type * as Api from '@opentelemetry/api'
import { Elysia } from 'elysia'
import type { QueryObserver } from '../../db/client'
import type { Logger } from '../log'
import { numericStatus } from './metrics'
import { requestMeta } from './request-id'

/**
 * OpenTelemetry traces (issue 5 item 5): one SERVER span per request, named after its route
 * template and continuing the caller's W3C `traceparent`, and one CLIENT span per database
 * statement inside it, exported over OTLP/HTTP (JSON) to `OTEL_EXPORTER_OTLP_ENDPOINT`.
 *
 * Without an endpoint `createTracing` returns null before anything is loaded: the OpenTelemetry
 * packages are required lazily, here, so a server without tracing neither loads them nor runs any
 * of their code. Attribute names follow the stable OpenTelemetry semantic conventions (1.45).
 */
export interface TracingConfig {
  endpoint: string | null
  serviceName: string
  serviceVersion?: string
}

export interface Tracing {
  /** Use right after the request-id plugin: it opens the request span around the whole request. */
  plugin: ReturnType<typeof requestSpans>
  tracer: Api.Tracer
  /** For `DatabaseHandle.observeQueries`: a child span per statement run inside a request. */
  onQuery: QueryObserver
  /** Exports every finished span now (tests; before exit). */
  forceFlush(): Promise<void>
  /** Flushes, then stops exporting; waits at most `SHUTDOWN_TIMEOUT_MS`. */
  shutdown(): Promise<void>
}

const SHUTDOWN_TIMEOUT_MS = 5_000
/** Long statements are cut here rather than shipped whole in every span. */
const MAX_ATTRIBUTE_LENGTH = 8_192
const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'CONNECT',
  'TRACE',
])

type Otel = {
  api: typeof import('@opentelemetry/api')
  core: typeof import('@opentelemetry/core')
}

let contextManagerRegistered = false

export function createTracing(config: TracingConfig, logger?: Logger): Tracing | null {
  if (!config.endpoint) return null

  const otel: Otel = {
    api: require('@opentelemetry/api'),
    core: require('@opentelemetry/core'),
  }
  const { TracerProvider, BatchSpanProcessor } =
    require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace')
  const { OTLPTraceExporter } =
    require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http')
  const { defaultResource, resourceFromAttributes } =
    require('@opentelemetry/resources') as typeof import('@opentelemetry/resources')

  // Parent/child links across awaits need a context manager; it is process-wide and stateless, so
  // it is registered once and shared by every app in the process (the tests build several).
  if (!contextManagerRegistered) {
    const { AsyncLocalStorageContextManager } =
      require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks')
    otel.api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    contextManagerRegistered = true
  }

  // OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT and _COMPRESSION are still read by the exporter itself.
  const otlp = new OTLPTraceExporter({ url: new URL('v1/traces', withSlash(config.endpoint)).toString() })
  let lastWarning = 0
  const exporter: import('@opentelemetry/sdk-trace').SpanExporter = {
    export(spans, done) {
      otlp.export(spans, (result) => {
        if (result.code !== otel.core.ExportResultCode.SUCCESS && Date.now() - lastWarning > 60_000) {
          lastWarning = Date.now()
          logger?.warn('tracing export failed', {
            endpoint: config.endpoint,
            spans: spans.length,
            error: result.error?.message,
          })
        }
        done(result)
      })
    },
    shutdown: () => otlp.shutdown(),
    forceFlush: () => otlp.forceFlush(),
  }
  const provider = new TracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({
        'service.name': config.serviceName,
        ...(config.serviceVersion ? { 'service.version': config.serviceVersion } : {}),
      }),
    ),
    spanLimits: { attributeValueLengthLimit: MAX_ATTRIBUTE_LENGTH },
    spanProcessors: [new BatchSpanProcessor({ exporter })],
  })
  const tracer = provider.getTracer('neoforge', config.serviceVersion)

  return {
    plugin: requestSpans(otel, tracer),
    tracer,
    onQuery: queryObserver(otel, tracer),
    forceFlush: () => provider.forceFlush(),
    shutdown: async () => {
      // Elysia runs after-response hooks, which end request spans, in a setImmediate: let those
      // of the requests answered just before the signal run first, or their spans would be lost.
      await new Promise((resolve) => setImmediate(resolve))
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS)
      })
      await Promise.race([provider.shutdown().catch(() => {}), timeout])
      clearTimeout(timer)
    },
  }
}

/**
 * The request span opens in a wrapper around Elysia's whole fetch handler, so every hook, the
 * handler and their database calls run with it active; it closes after the response, when the
 * route template and the final status are known (as for the metrics and the access log).
 */
function requestSpans({ api, core }: Otel, tracer: Api.Tracer) {
  const propagator = new core.W3CTraceContextPropagator()
  const headers: Api.TextMapGetter<Headers> = {
    get: (carrier, key) => carrier.get(key) ?? undefined,
    keys: (carrier) => [...carrier.keys()],
  }
  const open = new WeakMap<Request, { span: Api.Span; method: string; error?: unknown }>()

  return new Elysia({ name: 'tracing' })
    .wrap((fn, request) => {
      const parent = propagator.extract(api.ROOT_CONTEXT, request.headers, headers)
      const known = KNOWN_METHODS.has(request.method)
      const method = known ? request.method : '_OTHER'
      const url = new URL(request.url)
      const span = tracer.startSpan(
        known ? method : 'HTTP',
        {
          kind: api.SpanKind.SERVER,
          attributes: {
            'http.request.method': method,
            ...(known ? {} : { 'http.request.method_original': request.method }),
            'url.path': url.pathname,
            'url.scheme': url.protocol.slice(0, -1),
          },
        },
        parent,
      )
      open.set(request, { span, method: known ? method : 'HTTP' })
      const active = api.trace.setSpan(parent, span)
      return ((...args: unknown[]) =>
        api.context.with(active, fn as (...args: unknown[]) => unknown, undefined, ...args)) as ReturnType<
        typeof fn
      >
    })
    .onError({ as: 'global' }, ({ request, error }) => {
      const entry = open.get(request)
      if (entry) entry.error = error
    })
    .onAfterResponse({ as: 'global' }, ({ request, route, set }) => {
      const entry = open.get(request)
      if (!entry) return
      open.delete(request)
      const { span, method, error } = entry
      const status = numericStatus(set.status)
      if (route) {
        span.updateName(`${method} ${route}`)
        span.setAttribute('http.route', route)
      }
      span.setAttribute('http.response.status_code', status)
      span.setAttribute('request.id', requestMeta(request).id)
      if (status >= 500) {
        span.setAttribute('error.type', String(status))
        if (error instanceof Error) span.recordException(error)
        span.setStatus({ code: api.SpanStatusCode.ERROR })
      }
      span.end()
    })
}

/** A CLIENT span per statement, only inside a traced request: background work stays untraced. */
function queryObserver({ api }: Otel, tracer: Api.Tracer): QueryObserver {
  return (text) => {
    const parent = api.context.active()
    if (!api.trace.getSpan(parent)) return undefined
    const span = tracer.startSpan(
      /^\s*([A-Za-z]+)/.exec(text)?.[1]?.toUpperCase() ?? 'db.query',
      {
        kind: api.SpanKind.CLIENT,
        attributes: { 'db.system.name': 'postgresql', 'db.query.text': text },
      },
      parent,
    )
    return (error) => {
      // The SQLSTATE, never the message: PostgreSQL quotes input values in its messages.
      if (error !== undefined) {
        const code = (error as { code?: unknown } | null)?.code
        if (typeof code === 'string') span.setAttribute('db.response.status_code', code)
        span.setAttribute('error.type', typeof code === 'string' ? code : errorName(error))
        span.setStatus({ code: api.SpanStatusCode.ERROR })
      }
      span.end()
    }
  }
}

const errorName = (error: unknown) => (error instanceof Error ? error.name : 'Error')
const withSlash = (url: string) => (url.endsWith('/') ? url : `${url}/`)
