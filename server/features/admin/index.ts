import { Elysia } from 'elysia'
import type { FeatureDeps } from '../deps'

export const adminRoutes = (deps: FeatureDeps) =>
  new Elysia({ name: 'admin-routes', prefix: '/admin', detail: { tags: ['admin'] } }).use(deps.authPlugin)
