import { Elysia, status } from 'elysia'
import type { Database } from '../../../db/client'
import { clientOf } from '../../http/auth'
import { pageRequest, respondWithPage } from '../../http/pagination'
import { badRequest, problems, unauthenticated, validationFailed } from '../../http/problem'
import type { RoutePlugins } from '../../http/route-plugins'
import { toUserView } from '../users/model'
import { createUser, findUserById } from '../users/service'
import { AuthModel } from './model'
import type { AuthService } from './service'

/** CONTRACT §7: accounts, tokens, refresh rotation, sessions, and the console's cookie sign-in. */
export const authRoutes = (deps: { db: Database; service: AuthService; plugins: RoutePlugins }) => {
  const { db, service } = deps
  const noStore = (set: { headers: Record<string, unknown> }) => {
    set.headers['cache-control'] = 'no-store'
    set.headers.pragma = 'no-cache'
  }

  return new Elysia({ name: 'auth-routes', prefix: '/auth', detail: { tags: ['auth'] } })
    .use(deps.plugins)
    .post(
      '/register',
      async ({ body }) => {
        const user = await createUser(db, {
          email: body.email,
          password: body.password,
          fullName: body.full_name ?? null,
        })
        return status(201, toUserView(user))
      },
      {
        body: AuthModel.register,
        response: { 201: AuthModel.user, ...problems(400, 409, 413, 415, 422) },
        detail: { summary: 'Create an account (role user)', security: [] },
      },
    )
    .post(
      '/token',
      async ({ body, request, set }) => {
        if (body.grant_type !== undefined && body.grant_type !== 'password') {
          throw badRequest('unsupported_grant_type', 'Only grant_type=password is supported.')
        }
        const email = body.email ?? body.username
        if (email === undefined) {
          throw validationFailed([
            { pointer: '/body/email', detail: 'Send `email` (JSON) or `username` (form).' },
          ])
        }
        noStore(set)
        return service.issueTokens({ email, password: body.password }, clientOf(request))
      },
      {
        body: AuthModel.tokenRequest,
        response: { 200: AuthModel.tokenPair, ...problems(400, 401, 403, 413, 415, 422) },
        detail: {
          summary: 'Sign in for an access and a refresh token',
          description:
            'JSON `{email, password}` or the OAuth2 password form (`application/x-www-form-urlencoded`, `username`, `password`, optional `grant_type=password`). Unknown email and wrong password give the same 401.',
          security: [],
        },
      },
    )
    .post(
      '/refresh',
      async ({ body, request, set }) => {
        noStore(set)
        return service.refresh(body.refresh_token, clientOf(request))
      },
      {
        body: AuthModel.refreshRequest,
        response: { 200: AuthModel.tokenPair, ...problems(400, 401, 413, 415, 422) },
        detail: {
          summary: 'Rotate a refresh token for a new pair',
          description: 'Refresh tokens are single-use. Presenting a spent one revokes the whole session.',
          security: [],
        },
      },
    )
    .post(
      '/logout',
      async ({ principal, client, set }) => {
        await service.logout(principal, client)
        set.status = 204
      },
      {
        auth: true,
        response: { 204: AuthModel.noContent, ...problems(401) },
        detail: { summary: 'Revoke the current session' },
      },
    )
    .get(
      '/me',
      async ({ principal }) => {
        const user = await findUserById(db, principal.user.id)
        if (!user) throw unauthenticated('The account no longer exists.')
        return toUserView(user)
      },
      {
        auth: true,
        response: { 200: AuthModel.user, ...problems(401) },
        detail: { summary: 'The signed-in user' },
      },
    )
    .get(
      '/sessions',
      async ({ principal, query, request, set }) =>
        respondWithPage(
          { request, set },
          await service.listSessions(
            principal.user.id,
            { includeRevoked: query.include_revoked ?? false, currentSessionId: principal.session.id },
            pageRequest(query),
          ),
        ),
      {
        auth: true,
        query: AuthModel.sessionsQuery,
        response: { 200: AuthModel.sessionPage, ...problems(401, 422) },
        detail: { summary: 'My sessions, newest first (active only unless include_revoked=true)' },
      },
    )
    .post(
      '/sessions/revoke-others',
      async ({ principal, client }) => service.revokeOtherSessions(principal, client),
      {
        auth: true,
        response: { 200: AuthModel.revokedCount, ...problems(401) },
        detail: { summary: 'Revoke every session but the current one' },
      },
    )
    .post(
      '/sessions/:id/revoke',
      async ({ principal, client, params }) =>
        service.revokeSession(principal, params.id, { ownerId: principal.user.id }, client),
      {
        auth: true,
        params: AuthModel.sessionParams,
        response: { 200: AuthModel.session, ...problems(401, 404, 422) },
        detail: { summary: 'Revoke one of my sessions (idempotent; others’ sessions are 404)' },
      },
    )
    .post(
      '/session',
      async ({ body, request, set }) => {
        const { user, sessionToken } = await service.login({ ...body, kind: 'cookie' }, clientOf(request))
        noStore(set)
        set.headers['set-cookie'] = service.lucia.createSessionCookie(sessionToken).serialize()
        return toUserView(user)
      },
      {
        body: AuthModel.signIn,
        response: { 200: AuthModel.user, ...problems(400, 401, 403, 413, 415, 422) },
        detail: {
          summary: 'Browser sign-in: sets an HttpOnly, SameSite=Strict session cookie',
          description:
            'Writes authenticated by this cookie must send a same-origin `Origin` or `Referer` header.',
          security: [],
        },
      },
    )
    .delete(
      '/session',
      async ({ principal, client, set }) => {
        await service.logout(principal, client)
        set.headers['set-cookie'] = service.lucia.createBlankSessionCookie().serialize()
        set.status = 204
      },
      {
        auth: true,
        response: { 204: AuthModel.noContent, ...problems(401, 403) },
        detail: { summary: 'Browser sign-out' },
      },
    )
}
