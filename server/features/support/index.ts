import { Elysia } from 'elysia'
import { actorOf } from '../../http/auth'
import { ifMatchOf, item, itemEtag } from '../../http/conditional'
import { reply } from '../../http/idempotency'
import { pageRequest, respondWithPage } from '../../http/pagination'
import { problems } from '../../http/problem'
import type { FeatureDeps } from '../deps'
import { TicketModel, toTicketView } from './model'
import { createTicket, getTicket, listTickets, updateTicket } from './service'

/**
 * CONTRACT §8 Support tickets: anyone may open one; staff triage them; the user who opened a
 * ticket while signed in may read it. Another user's ticket is 404.
 */
export const supportRoutes = (deps: FeatureDeps) =>
  new Elysia({ name: 'support-routes', prefix: '/support', detail: { tags: ['support'] } })
    .use(deps.plugins)
    .post(
      '/tickets',
      async ({ principal, body, idempotency }) =>
        idempotency.run(async (tx) => {
          const row = await createTicket(tx, principal ? actorOf(principal) : null, body)
          return reply.created(toTicketView(row), `/api/v1/support/tickets/${row.id}`, {
            etag: itemEtag(row.version),
          })
        }),
      {
        identify: true,
        idempotent: true,
        body: TicketModel.create,
        response: { 201: TicketModel.ticket, ...problems(400, 401, 403, 409, 413, 415, 422) },
        detail: {
          summary: 'Open a support ticket (anonymous allowed; linked to the account when signed in)',
          security: [{}, { bearer: [] }, { cookie: [] }],
        },
      },
    )
    .get(
      '/tickets',
      async ({ principal, query, request, set }) => {
        const result = await listTickets(
          deps.db,
          actorOf(principal),
          {
            status: query.status,
            priority: query.priority,
            assigneeId: query.assignee_id,
            q: query.q,
            sort: query.sort,
          },
          pageRequest(query),
        )
        return respondWithPage({ request, set }, { ...result, items: result.items.map(toTicketView) })
      },
      {
        auth: true,
        query: TicketModel.listQuery,
        response: { 200: TicketModel.page, ...problems(401, 422) },
        detail: {
          summary: 'List tickets (staff: all; a user: the ones they opened), newest first by default',
          description:
            'Filters: `status`, `priority`, `assignee_id` (a user id, or `none` for unassigned), `q` (case-insensitive substring of the subject or the email). `sort`: `created_at`, `updated_at`, `priority` (by severity, low < normal < high < urgent), each with `-` for descending; default `-created_at`.',
        },
      },
    )
    .get(
      '/tickets/:id',
      async ({ principal, params, request, set }) => {
        const row = await getTicket(deps.db, actorOf(principal), params.id)
        return item({ request, set }, row.version, () => toTicketView(row))
      },
      {
        auth: true,
        params: TicketModel.params,
        response: { 200: TicketModel.ticket, ...problems(401, 404, 422) },
        detail: { summary: 'One ticket (staff, or the user who opened it; else 404)' },
      },
    )
    .patch(
      '/tickets/:id',
      async ({ principal, client, params, body, request, idempotency }) =>
        idempotency.run(async (tx) => {
          const row = await updateTicket(
            tx,
            actorOf(principal),
            params.id,
            { status: body.status, priority: body.priority, assigneeId: body.assignee_id },
            client,
            ifMatchOf(request),
          )
          return reply.ok(toTicketView(row), { etag: itemEtag(row.version) })
        }),
      {
        auth: true,
        idempotent: true,
        params: TicketModel.params,
        body: TicketModel.update,
        response: { 200: TicketModel.ticket, ...problems(400, 401, 403, 404, 409, 412, 413, 415, 422) },
        detail: {
          summary: 'Triage a ticket: status, priority, assignee (staff only)',
          description:
            'Status machine: open -> pending|resolved|closed, pending -> open|resolved|closed, resolved -> open|closed, closed is final; anything else (including the current status) is 409 `invalid_transition`. The owner of the ticket gets 403; other users 404. Audited as `ticket.update`.',
        },
      },
    )
