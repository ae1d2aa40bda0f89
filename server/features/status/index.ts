import { Elysia, status } from 'elysia'
import { pageRequest, respondWithPage } from '../../http/pagination'
import { problems } from '../../http/problem'
import type { FeatureDeps } from '../deps'
import { StatusModel } from './model'
import { getEvent, getService, getSummary, listEvents, recordEvent } from './service'

/** CONTRACT §4: the public status endpoints may be cached by anyone for a little while. */
const publicCache = (set: { headers: Record<string, unknown> }) => {
  set.headers['cache-control'] = 'public, max-age=15, stale-while-revalidate=30'
}

/** CONTRACT §8 status: staff record events; everyone reads the current status and its history. */
export const statusRoutes = (deps: FeatureDeps) =>
  new Elysia({ name: 'status-routes', prefix: '/status', detail: { tags: ['status'] } })
    .use(deps.authPlugin)
    .get(
      '',
      async ({ set }) => {
        publicCache(set)
        return getSummary(deps.db)
      },
      {
        response: { 200: StatusModel.summary },
        detail: {
          summary: 'Overall status: the worst current service status, and the services causing it',
          security: [],
        },
      },
    )
    .get(
      '/services/:service',
      async ({ params, set }) => {
        publicCache(set)
        return getService(deps.db, params.service)
      },
      {
        params: StatusModel.serviceParams,
        response: { 200: StatusModel.service, ...problems(404, 422) },
        detail: { summary: 'One service’s current status', security: [] },
      },
    )
    .post(
      '/events',
      async ({ principal, body, set }) => {
        const event = await recordEvent(deps.db, principal.user.id, body)
        set.headers.location = `/api/v1/status/events/${event.id}`
        return status(201, event)
      },
      {
        auth: 'staff',
        body: StatusModel.createEvent,
        response: { 201: StatusModel.event, ...problems(400, 401, 403, 413, 415, 422) },
        detail: {
          summary: 'Record a status event (staff)',
          description: 'Appends to the history and sets the service’s current status (created on first use).',
        },
      },
    )
    .get(
      '/events',
      async ({ query, request, set }) => {
        publicCache(set)
        return respondWithPage(
          { request, set },
          await listEvents(deps.db, { service: query.service }, pageRequest(query)),
        )
      },
      {
        query: StatusModel.eventsQuery,
        response: { 200: StatusModel.eventPage, ...problems(422) },
        detail: { summary: 'Status history, newest first (filter by service)', security: [] },
      },
    )
    .get(
      '/events/:id',
      async ({ params, set }) => {
        publicCache(set)
        return getEvent(deps.db, params.id)
      },
      {
        params: StatusModel.eventParams,
        response: { 200: StatusModel.event, ...problems(404, 422) },
        detail: { summary: 'One status event', security: [] },
      },
    )
