import { Elysia } from 'elysia'
import { item } from '../../http/conditional'
import { reply } from '../../http/idempotency'
import { pageRequest, respondWithPage } from '../../http/pagination'
import { problems } from '../../http/problem'
import type { FeatureDeps } from '../deps'
import { StatusModel } from './model'
import { getEvent, listEvents, recordEvent, serviceOf, serviceRows, summaryOf } from './service'

/** CONTRACT §8 status: staff record events; everyone reads the current status and its history. */
export const statusRoutes = (deps: FeatureDeps) => {
  const services = serviceRows(deps.db, deps.config.statusCacheMs)
  return new Elysia({ name: 'status-routes', prefix: '/status', detail: { tags: ['status'] } })
    .use(deps.plugins)
    .get('', async () => summaryOf(await services.current()), {
      cache: 'public',
      response: { 200: StatusModel.summary },
      detail: {
        summary: 'Overall status: the worst current service status, and the services causing it',
        security: [],
      },
    })
    .get(
      '/services/:service',
      async ({ params, request, set }) => {
        const { service, version } = serviceOf(await services.current(), params.service)
        return item({ request, set }, version, () => service)
      },
      {
        cache: 'public',
        params: StatusModel.serviceParams,
        response: { 200: StatusModel.service, ...problems(404, 422) },
        detail: { summary: 'One service’s current status', security: [] },
      },
    )
    .post(
      '/events',
      async ({ principal, body, idempotency }) => {
        try {
          return await idempotency.run(async (tx) => {
            const event = await recordEvent(tx, principal.user.id, body)
            return reply.created(event, `/api/v1/status/events/${event.id}`)
          })
        } finally {
          // After the commit (or the rollback): a read from now on sees it.
          services.invalidate()
        }
      },
      {
        auth: 'staff',
        idempotent: true,
        body: StatusModel.createEvent,
        response: { 201: StatusModel.event, ...problems(400, 401, 403, 409, 413, 415, 422) },
        detail: {
          summary: 'Record a status event (staff)',
          description:
            'Appends to the history and sets the service’s current status (created on first use). Honours `Idempotency-Key`.',
        },
      },
    )
    .get(
      '/events',
      async ({ query, request, set }) =>
        respondWithPage(
          { request, set },
          await listEvents(deps.db, { service: query.service }, pageRequest(query)),
        ),
      {
        cache: 'public',
        query: StatusModel.eventsQuery,
        response: { 200: StatusModel.eventPage, ...problems(422) },
        detail: { summary: 'Status history, newest first (filter by service)', security: [] },
      },
    )
    .get('/events/:id', async ({ params }) => getEvent(deps.db, params.id), {
      cache: 'public',
      params: StatusModel.eventParams,
      response: { 200: StatusModel.event, ...problems(404, 422) },
      detail: { summary: 'One status event', security: [] },
    })
}
