import { Elysia } from 'elysia'
import type { FeatureDeps } from '../deps'

export const supportRoutes = (deps: FeatureDeps) =>
  new Elysia({ name: 'support-routes', prefix: '/support', detail: { tags: ['support'] } }).use(
    deps.authPlugin,
  )
