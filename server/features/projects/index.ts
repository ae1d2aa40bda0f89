import { Elysia } from 'elysia'
import { projects } from '../../../db/schema'
import { actorOf, preload } from '../../http/auth'
import { ifMatchOf, item, itemEtag } from '../../http/conditional'
import { reply } from '../../http/idempotency'
import { pageRequest, respondWithPage } from '../../http/pagination'
import { problems } from '../../http/problem'
import type { FeatureDeps } from '../deps'
import { ProjectModel, toProjectView } from './model'
import {
  deleteProject,
  listProjects,
  newProject,
  type ProjectRow,
  updateProject,
  visibleProject,
} from './service'

/** `GET /projects/{id}` reads its row with the session lookup: one round trip per request. */
const projectById = preload<ProjectRow>(
  'project_by_id',
  projects,
  projects.id,
  ({ params }) => params.id ?? '',
)

/**
 * CONTRACT §8 Projects: owner-scoped (staff and admin see all); another user's project is 404.
 */
export const projectsRoutes = (deps: FeatureDeps) =>
  new Elysia({ name: 'projects-routes', prefix: '/projects', detail: { tags: ['projects'] } })
    .use(deps.plugins)
    .get(
      '',
      async ({ principal, query, request, set }) => {
        const result = await listProjects(
          deps.db,
          actorOf(principal),
          { q: query.q, ownerId: query.owner_id, sort: query.sort },
          pageRequest(query),
        )
        return respondWithPage(
          { request, set },
          { ...result, items: result.items.map(toProjectView) },
          (project) => project.id,
        )
      },
      {
        auth: true,
        query: ProjectModel.listQuery,
        response: { 200: ProjectModel.page, ...problems(401, 422) },
        detail: {
          summary: 'List projects (mine; staff and admin: all), newest first by default',
          description:
            'Filters: `q` (case-insensitive substring of the name), `owner_id` (staff and admin; a user may pass only their own id, anything else is 422). `sort`: `created_at`, `updated_at`, `name`, each with `-` for descending; default `-created_at`.',
        },
      },
    )
    .post(
      '',
      async ({ principal, body, idempotency }) => {
        const row = newProject(actorOf(principal), body)
        return idempotency.insert(
          projects,
          row,
          reply.created(toProjectView(row), `/api/v1/projects/${row.id}`, { etag: itemEtag(row.version) }),
        )
      },
      {
        auth: true,
        idempotent: true,
        body: ProjectModel.create,
        response: { 201: ProjectModel.project, ...problems(400, 401, 403, 409, 413, 415, 422) },
        detail: { summary: 'Create a project owned by the caller (Location names it)' },
      },
    )
    .get(
      '/:id',
      async ({ principal, preloaded, request, set }) => {
        const row = visibleProject(actorOf(principal), projectById.row(preloaded))
        return item({ request, set }, row.version, () => toProjectView(row))
      },
      {
        auth: { preload: projectById },
        params: ProjectModel.params,
        response: { 200: ProjectModel.project, ...problems(401, 404, 422) },
        detail: { summary: 'One project (others’ projects are 404 to users)' },
      },
    )
    .patch(
      '/:id',
      async ({ principal, params, body, request, idempotency }) =>
        idempotency.run(async (tx) => {
          const row = await updateProject(tx, actorOf(principal), params.id, body, ifMatchOf(request))
          return reply.ok(toProjectView(row), { etag: itemEtag(row.version) })
        }),
      {
        auth: true,
        idempotent: true,
        params: ProjectModel.params,
        body: ProjectModel.update,
        response: { 200: ProjectModel.project, ...problems(400, 401, 403, 404, 409, 412, 413, 415, 422) },
        detail: {
          summary: 'Change a project’s name or description (owner, staff, admin)',
          description: 'At least one of `name`, `description` (null clears it); an empty body is 422.',
        },
      },
    )
    .delete(
      '/:id',
      async ({ principal, client, params, request, set }) => {
        await deleteProject(deps.db, actorOf(principal), params.id, client, ifMatchOf(request))
        set.status = 204
      },
      {
        auth: true,
        params: ProjectModel.params,
        response: { 204: ProjectModel.noContent, ...problems(401, 403, 404, 412, 422) },
        detail: { summary: 'Delete a project (owner, staff, admin); audited as project.delete' },
      },
    )
