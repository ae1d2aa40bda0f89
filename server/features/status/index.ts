import { Elysia } from 'elysia'
import type { FeatureDeps } from '../deps'

export const statusRoutes = (deps: FeatureDeps) =>
  new Elysia({ name: 'status-routes', prefix: '/status', detail: { tags: ['status'] } }).use(deps.authPlugin)
