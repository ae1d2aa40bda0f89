import type { Database } from '../../db/client'
import type { Config } from '../config'
import type { MetricsRegistry } from '../http/metrics'
import type { RoutePlugins } from '../http/route-plugins'
import type { Logger } from '../log'
import type { AuthService } from './auth/service'

/** What a feature's routes are built with: the database, the auth plugin, settings, and peers' services. */
export interface FeatureDeps {
  db: Database
  config: Config
  /** The route macros: `auth`/`identify`, `idempotent`, `cache` (built in server/app.ts). */
  plugins: RoutePlugins
  authService: AuthService
  logger: Logger
  registry: MetricsRegistry
}
