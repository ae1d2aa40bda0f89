import { Elysia } from 'elysia'
import type { Database } from '../../db/client'
import { type Authenticator, auth } from './auth'
import { conditional } from './conditional'
import { idempotency } from './idempotency'
import type { MetricsRegistry } from './metrics'

/**
 * The macros a route opts into, in one plugin every feature `.use`s so their types flow:
 * `auth: true | 'staff' | 'admin'` / `identify: true` (who calls), `idempotent: true` (CONTRACT §5,
 * listed after `auth`/`identify`), `cache: 'public'` (CONTRACT §4).
 */
export function routePlugins(deps: {
  db: Database
  authenticator: Authenticator
  trustedOrigins: string[]
  registry: MetricsRegistry
  idempotencyTtlSeconds: number
}) {
  return new Elysia({ name: 'route-plugins' })
    .use(auth(deps.authenticator, { trustedOrigins: deps.trustedOrigins }))
    .use(
      idempotency({
        db: deps.db,
        registry: deps.registry,
        ttlSeconds: deps.idempotencyTtlSeconds,
      }),
    )
    .use(conditional)
}

export type RoutePlugins = ReturnType<typeof routePlugins>
