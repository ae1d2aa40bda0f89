import { Elysia } from 'elysia'
import { ifMatchOf, itemEtag } from '../../http/conditional'
import { reply } from '../../http/idempotency'
import { pageRequest, respondWithPage } from '../../http/pagination'
import { problems, validationFailed } from '../../http/problem'
import { AuditModel } from '../audit/model'
import { listAudit } from '../audit/service'
import type { FeatureDeps } from '../deps'
import { AdminModel } from './model'
import * as Admin from './service'

/** A validated ISO 8601 query value as a Date; a calendar-impossible one (Feb 30) is a 422 too. */
function instant(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined
  const date = new Date(value)
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number]
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  if (Number.isNaN(date.getTime()) || month < 1 || month > 12 || day < 1 || day > daysInMonth) {
    throw validationFailed([{ pointer: `/query/${name}`, detail: 'Not a valid ISO 8601 date-time.' }])
  }
  return date
}

/** CONTRACT §8 admin: user management (admin), everyone's sessions and the audit log (staff). */
export const adminRoutes = (deps: FeatureDeps) => {
  const { db, authService } = deps
  return new Elysia({ name: 'admin-routes', prefix: '/admin', detail: { tags: ['admin'] } })
    .use(deps.plugins)
    .get(
      '/users',
      async ({ query, request, set }) =>
        respondWithPage(
          { request, set },
          await Admin.listUsers(
            db,
            { q: query.q, role: query.role, isActive: query.is_active, sort: query.sort },
            pageRequest(query),
          ),
        ),
      {
        auth: 'admin',
        query: AdminModel.usersQuery,
        response: { 200: AdminModel.usersPage, ...problems(401, 403, 422) },
        detail: {
          summary: 'Users, newest first (admin; filters q on email, role, is_active)',
          description:
            '`sort`: `created_at` (default `-created_at`), `email`, `last_login_at`; users who never signed in sort last in both directions.',
        },
      },
    )
    .patch(
      '/users/:id',
      async ({ principal, client, params, body, request, idempotency }) =>
        idempotency.run(async (tx) => {
          const { user, version } = await Admin.updateUser(
            tx,
            authService,
            principal,
            params.id,
            body,
            client,
            ifMatchOf(request),
          )
          return reply.ok(user, { etag: itemEtag(version) })
        }),
      {
        auth: 'admin',
        idempotent: true,
        params: AdminModel.userParams,
        body: AdminModel.userPatch,
        response: { 200: AdminModel.user, ...problems(400, 401, 403, 404, 409, 412, 413, 415, 422) },
        detail: {
          summary: 'Change a user’s role or active flag (admin)',
          description:
            'Deactivation revokes every session of the user in the same transaction. Admins cannot demote or deactivate themselves (409 `cannot_modify_self`). Audited as `user.role_change` and `user.deactivate` (both directions of the active flag). Honours `If-Match` (the user’s `ETag`, `"v<version>"`, is on every 200) and `Idempotency-Key`.',
        },
      },
    )
    .get(
      '/sessions',
      async ({ principal, query, request, set }) =>
        respondWithPage(
          { request, set },
          await Admin.listSessions(
            db,
            { userId: query.user_id, email: query.email, active: query.active },
            principal.session.id,
            pageRequest(query),
          ),
        ),
      {
        auth: 'staff',
        query: AdminModel.sessionsQuery,
        response: { 200: AdminModel.sessionsPage, ...problems(401, 403, 422) },
        detail: { summary: 'Every user’s sessions, newest first (staff; filters user_id, email, active)' },
      },
    )
    .post(
      '/sessions/:id/revoke',
      async ({ principal, client, params, idempotency }) =>
        idempotency.run(async (tx) =>
          reply.ok(await Admin.revokeSession(tx, authService, principal, params.id, client)),
        ),
      {
        auth: 'staff',
        idempotent: true,
        params: AdminModel.sessionParams,
        response: { 200: AdminModel.session, ...problems(400, 401, 403, 404, 409, 422) },
        detail: { summary: 'Revoke any user’s session (staff; idempotent)' },
      },
    )
    .post(
      '/users/:id/sessions/revoke-all',
      async ({ principal, client, params, idempotency }) =>
        idempotency.run(async (tx) =>
          reply.ok(await Admin.revokeAllSessions(tx, authService, principal, params.id, client)),
        ),
      {
        auth: 'staff',
        idempotent: true,
        params: AdminModel.userParams,
        response: { 200: AdminModel.revokedCount, ...problems(400, 401, 403, 404, 409, 422) },
        detail: { summary: 'Revoke every session of a user (staff)' },
      },
    )
    .get(
      '/audit-log',
      async ({ query, request, set }) => {
        const since = instant(query.since, 'since')
        const until = instant(query.until, 'until')
        if (since && until && since > until) {
          throw validationFailed([{ pointer: '/query/since', detail: '`since` must not be after `until`.' }])
        }
        return respondWithPage(
          { request, set },
          await listAudit(
            db,
            { actorId: query.actor_id, action: query.action, target: query.target, since, until },
            pageRequest(query),
          ),
        )
      },
      {
        auth: 'staff',
        query: AuditModel.listQuery,
        response: { 200: AuditModel.page, ...problems(401, 403, 422) },
        detail: {
          summary: 'The audit log, newest first (staff; filters actor_id, action, target, since, until)',
        },
      },
    )
}
