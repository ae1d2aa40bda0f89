import { Elysia } from 'elysia'
import type { DatabaseHandle } from '../db/client'
import type { Config } from './config'
import { adminRoutes } from './features/admin'
import { authRoutes } from './features/auth'
import { createAuthService } from './features/auth/service'
import { communityRoutes } from './features/community'
import { healthRoutes } from './features/health'
import { projectsRoutes } from './features/projects'
import { statusRoutes } from './features/status'
import { supportRoutes } from './features/support'
import { accessLog } from './http/access-log'
import { auth } from './http/auth'
import { body } from './http/body'
import { clientIp } from './http/client-ip'
import { cors } from './http/cors'
import { errors } from './http/errors'
import { createMetricsRegistry, metrics } from './http/metrics'
import { openapi } from './http/openapi'
import { requestId } from './http/request-id'
import type { Logger } from './log'

export interface AppDeps {
  database: DatabaseHandle
  config: Config
  logger: Logger
}

/**
 * The whole request path, in the order a request meets it: request id and client address,
 * CORS, the error mapper, metrics and the access log (both after the response), the body
 * parser, then the features. Both the entry point and the tests build the app here.
 */
export function createApp({ database, config, logger }: AppDeps) {
  const registry = createMetricsRegistry()
  const authService = createAuthService(database.db, {
    appSecret: config.appSecret,
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    sessionTtlDays: config.sessionTtlDays,
    secureCookies: config.env === 'production',
  })
  const authPlugin = auth(authService, {
    trustedOrigins: [...config.corsOrigins, ...(config.publicOrigin ? [config.publicOrigin] : [])],
  })

  const features = { db: database.db, config, authPlugin, authService }
  const api = new Elysia({ prefix: '/api/v1' })
    .use(authRoutes({ db: database.db, service: authService, authPlugin }))
    .use(projectsRoutes(features))
    .use(supportRoutes(features))
    .use(communityRoutes(features))
    .use(statusRoutes(features))
    .use(adminRoutes(features))

  const app = new Elysia({ normalize: false })
    .use(requestId)
    .use(clientIp(config.trustProxy))
    .use(cors(config.corsOrigins))
    .use(errors(logger))
    .use(metrics(registry))
    .use(accessLog(logger))
    .use(
      body({ extraMediaTypes: { '/api/v1/auth/token': { types: ['application/x-www-form-urlencoded'] } } }),
    )
    .use(openapi({ version: config.version }))
    .use(healthRoutes({ version: config.version, ping: database.ping }))
    .use(api)

  return Object.assign(app, { services: { auth: authService }, metricsRegistry: registry })
}

export type App = ReturnType<typeof createApp>
