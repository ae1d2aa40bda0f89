import { Elysia } from 'elysia'
import type { FeatureDeps } from '../deps'

export const projectsRoutes = (deps: FeatureDeps) =>
  new Elysia({ name: 'projects-routes', prefix: '/projects', detail: { tags: ['projects'] } }).use(
    deps.authPlugin,
  )
