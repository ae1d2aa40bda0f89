import { Elysia, t } from 'elysia'
import { HttpError, problems } from '../../http/problem'

/** Liveness and readiness (CONTRACT §9): neither is rate limited nor needs a credential. */
export const healthRoutes = (deps: { version: string; ping: () => Promise<boolean> }) =>
  new Elysia({ name: 'health', detail: { tags: ['operations'] } })
    .get('/health', () => ({ status: 'ok' as const, version: deps.version }), {
      response: { 200: t.Object({ status: t.Literal('ok'), version: t.String() }) },
      detail: { summary: 'Liveness: the process answers', security: [] },
    })
    .get(
      '/ready',
      async ({ set }) => {
        set.headers['cache-control'] = 'no-store'
        if (!(await deps.ping())) throw new HttpError(503, 'not_ready', 'The database does not answer.')
        return { status: 'ready' as const }
      },
      {
        response: { 200: t.Object({ status: t.Literal('ready') }), ...problems(503) },
        detail: { summary: 'Readiness: the database answers', security: [] },
      },
    )
