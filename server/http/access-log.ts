import { Elysia } from 'elysia'
import type { Logger } from '../log'
import { clientIpOf } from './client-ip'
import { numericStatus, routeLabel } from './metrics'
import { requestMeta } from './request-id'

/**
 * One structured line per request (CONTRACT §1, §2). It logs the path without its query string
 * and never a header value, so no token can reach the log.
 */
export const accessLog = (logger: Logger) => {
  const plugin = new Elysia({ name: 'access-log' })
  // Below LOG_LEVEL=info no line would be written: no hook, so requests pay nothing for it.
  if (!logger.enabled('info')) return plugin
  return plugin
    .onAfterResponse(({ request, route, set, path }) => {
      const meta = requestMeta(request)
      logger.info('request', {
        request_id: meta.id,
        method: request.method,
        path,
        route: routeLabel(route),
        status: numericStatus(set.status),
        duration_ms: Math.round((performance.now() - meta.startedAt) * 100) / 100,
        ...(meta.userId ? { user_id: meta.userId } : {}),
        ...(meta.resolveIp ? { ip: clientIpOf(request) } : {}),
      })
    })
    .as('global')
}
