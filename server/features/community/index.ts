import { Elysia } from 'elysia'
import type { FeatureDeps } from '../deps'

export const communityRoutes = (deps: FeatureDeps) =>
  new Elysia({ name: 'community-routes', prefix: '/community', detail: { tags: ['community'] } }).use(
    deps.authPlugin,
  )
