import type { Database } from '../../db/client'
import type { Config } from '../config'
import type { AuthPlugin } from '../http/auth'
import type { AuthService } from './auth/service'

/** What a feature's routes are built with: the database, the auth plugin, settings, and peers' services. */
export interface FeatureDeps {
  db: Database
  config: Config
  authPlugin: AuthPlugin
  authService: AuthService
}
