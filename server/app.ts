import { Elysia } from 'elysia'
import type { DatabaseHandle } from '../db/client'
import type { Config } from './config'
import { adminRoutes } from './features/admin'
import { authRoutes } from './features/auth'
import { createAuthService } from './features/auth/service'
import { communityRoutes } from './features/community'
import { healthRoutes } from './features/health'
import { projectsRoutes } from './features/projects'
import { CSP_REPORT_MAX_BYTES, CSP_REPORT_MEDIA_TYPES, securityRoutes } from './features/security'
import { statusRoutes } from './features/status'
import { supportRoutes } from './features/support'
import { accessLog } from './http/access-log'
import { adminConsole } from './http/admin-console'
import { body } from './http/body'
import { clientIp } from './http/client-ip'
import { conditional } from './http/conditional'
import { cors } from './http/cors'
import { errors } from './http/errors'
import { createMetricsRegistry, metrics } from './http/metrics'
import { openapi } from './http/openapi'
import { postgresRateLimitStore, rateLimit, redisRateLimitStore } from './http/rate-limit'
import { requestId } from './http/request-id'
// Registers the strict `uuid` and `date-time` formats every schema of the app validates with.
import './http/schema'
import { routePlugins } from './http/route-plugins'
import { CSP_REPORT_PATH, securityHeaders } from './http/security-headers'
import { threatBlock } from './http/threat-block'
import { createTracing } from './http/tracing'
import { createCleanupJobs } from './jobs/cleanup'
import type { Logger } from './log'

export interface AppDeps {
  database: DatabaseHandle
  config: Config
  logger: Logger
}

/**
 * The whole request path, in the order a request meets it:
 *   request id -> security headers -> threat blocking (no database work) -> client address ->
 *   CORS -> rate limit (before any parsing, so every request counts) -> body parser -> route:
 *   auth, idempotency claim, validation, handler -> conditional (ETag, 304) -> response.
 * Errors become problems in one place; metrics and the access log are written after the
 * response. Both the entry point and the tests build the app here.
 */
export function createApp({ database, config, logger }: AppDeps) {
  const registry = createMetricsRegistry()
  // OpenTelemetry only when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise null and nothing loaded.
  const tracing = createTracing({ ...config.otel, serviceVersion: config.version }, logger)
  if (tracing) database.observeQueries(tracing.onQuery)
  const authService = createAuthService(
    database.db,
    {
      appSecret: config.appSecret,
      accessTokenTtlSeconds: config.accessTokenTtlSeconds,
      sessionTtlDays: config.sessionTtlDays,
      secureCookies: config.env === 'production',
    },
    registry,
  )
  const rateLimitStore = config.redisUrl
    ? redisRateLimitStore(config.redisUrl)
    : postgresRateLimitStore(database)
  const jobs = createCleanupJobs({
    database,
    registry,
    logger,
    lucia: authService.lucia,
    rateLimitStore,
    schedules: config.cronSchedules,
  })

  const plugins = routePlugins({
    db: database.db,
    authenticator: authService,
    trustedOrigins: [...config.corsOrigins, ...(config.publicOrigin ? [config.publicOrigin] : [])],
    registry,
    idempotencyTtlSeconds: config.idempotencyTtlSeconds,
  })

  const features = { db: database.db, config, plugins, authService, logger, registry }
  const api = new Elysia({ prefix: '/api/v1' })
    .use(authRoutes({ db: database.db, service: authService, plugins }))
    .use(projectsRoutes(features))
    .use(supportRoutes(features))
    .use(communityRoutes(features))
    .use(statusRoutes(features))
    .use(adminRoutes(features))
    .use(securityRoutes(features))

  const app = new Elysia({ normalize: false })
    .use(requestId)
    .use(tracing?.plugin ?? new Elysia({ name: 'tracing-off' }))
    .use(securityHeaders({ production: config.env === 'production', publicOrigin: config.publicOrigin }))
    .use(errors(logger))
    .use(metrics(registry, { token: config.metricsToken }))
    .use(accessLog(logger))
    .use(threatBlock(registry))
    .use(clientIp(config.trustProxy))
    .use(cors(config.corsOrigins))
    .use(
      rateLimit({
        policies: config.rateLimits,
        store: rateLimitStore,
        registry,
        claimedUserId: authService.claimedUserId,
      }),
    )
    .use(
      body({
        extraMediaTypes: {
          '/api/v1/auth/token': { types: ['application/x-www-form-urlencoded'] },
          [CSP_REPORT_PATH]: { types: CSP_REPORT_MEDIA_TYPES, maxBytes: CSP_REPORT_MAX_BYTES },
        },
      }),
    )
    .use(conditional)
    .use(openapi({ version: config.version }))
    .use(healthRoutes({ version: config.version, ping: database.ping }))
    .use(api)
    .use(adminConsole())
    .use(config.cronEnabled ? jobs.plugin() : new Elysia({ name: 'cleanup-jobs-off' }))
    .onStop(() => rateLimitStore.close())

  return Object.assign(app, { services: { auth: authService }, jobs, metricsRegistry: registry, tracing })
}

export type App = ReturnType<typeof createApp>
