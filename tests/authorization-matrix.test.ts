import { afterAll, beforeAll, expect, test } from 'bun:test'
import { createUser } from '../server/features/users/service'
import { describeEachDatabase, type Harness, type TestResponse } from './support/app'
import { createCallers, createSignedInUser, type TestUser } from './support/users'

/**
 * The authorization matrix: every route under /api/v1 x (anonymous, a user, another user, staff,
 * admin), each cell asserting the exact status the CONTRACT gives (§7, §8, §9). The expectations are
 * written from the contract, not read off the code; where the contract is silent the cell carries a
 * `note` saying which reading was chosen. Fixtures: one project owned by `user`, one ticket opened by
 * `user`, one published post by `user`, one status event. Cells that would destroy a shared fixture
 * (logout, delete, moderation, reports) get a fresh one of their own.
 */

const callers = ['anonymous', 'user', 'otherUser', 'staff', 'admin'] as const
type Caller = (typeof callers)[number]
type Statuses = readonly [anonymous: number, user: number, otherUser: number, staff: number, admin: number]

interface Cell {
  path: string
  body?: unknown
  /** Overrides the caller's own token (a throwaway session of the same caller). */
  token?: string
}

interface Context {
  h: Harness
  as: Record<Exclude<Caller, 'anonymous'>, TestUser>
  fixtures: Fixtures
  /** A new session (token pair) of an account, for cells that end the session they use. */
  signIn(account: { email: string; password: string }): Promise<{
    access_token: string
    refresh_token: string
    session_id: string
  }>
  /** Fresh fixtures owned by `user`, for cells that change or remove what they touch. */
  newProject(): Promise<string>
  newPost(): Promise<number>
}

interface Fixtures {
  /** An account nobody else uses, for sign-in, refresh and cookie sign-in cells. */
  login: { email: string; password: string }
  /** A plain user that admin cells act on (role no-op, session revocation). */
  bystander: TestUser
  projectId?: string
  ticketId?: number
  postId?: number
  statusEventId?: number
  service: string
  errors: string[]
}

interface Row {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  /** The route template as the app registers it (checked against the app's route list). */
  route: string
  /** Distinguishes two rows of one route (e.g. a post's author edit and its moderation). */
  variant?: string
  expect: Statuses
  /** Where the contract is silent or ambiguous: the reading these expectations follow. */
  note?: string
  cell(context: Context, caller: Caller): Promise<Cell> | Cell
}

let unique = 0
const next = () => `${Date.now().toString(36)}-${++unique}`

function need<T>(value: T | undefined, what: string, fixtures: Fixtures): T {
  if (value === undefined) {
    throw new Error(`fixture ${what} could not be created: ${fixtures.errors.join('; ') || 'unknown'}`)
  }
  return value
}

const reportBody = {
  'csp-report': {
    'document-uri': 'http://neoforge.test/admin',
    'violated-directive': 'script-src-elem',
    'effective-directive': 'script-src-elem',
    'blocked-uri': 'inline',
    disposition: 'report',
  },
}

// biome-ignore format: one row per route reads as a table
const rows: Row[] = [
  // §7 Auth and sessions. Sign-in, refresh and registration carry their own credential in the body:
  // a bearer token on the request changes nothing.
  { method: 'POST', route: '/auth/register', expect: [201, 201, 201, 201, 201],
    cell: () => ({ path: '/auth/register', body: { email: `matrix-${next()}@example.test`, password: 'long enough password' } }) },
  { method: 'POST', route: '/auth/token', expect: [200, 200, 200, 200, 200],
    cell: ({ fixtures }) => ({ path: '/auth/token', body: fixtures.login }) },
  { method: 'POST', route: '/auth/refresh', expect: [200, 200, 200, 200, 200],
    cell: async (c) => ({ path: '/auth/refresh', body: { refresh_token: (await c.signIn(c.fixtures.login)).refresh_token } }) },
  { method: 'POST', route: '/auth/logout', expect: [401, 204, 204, 204, 204],
    cell: async (c, who) => ({ path: '/auth/logout', ...(await throwaway(c, who)) }) },
  { method: 'GET', route: '/auth/me', expect: [401, 200, 200, 200, 200], cell: () => ({ path: '/auth/me' }) },
  { method: 'GET', route: '/auth/sessions', expect: [401, 200, 200, 200, 200], cell: () => ({ path: '/auth/sessions' }) },
  { method: 'POST', route: '/auth/sessions/revoke-others', expect: [401, 200, 200, 200, 200],
    cell: () => ({ path: '/auth/sessions/revoke-others' }) },
  { method: 'POST', route: '/auth/sessions/:id/revoke', expect: [401, 200, 404, 404, 404],
    note: 'a session of `user`: the owner revokes it; for everyone else, staff included, it is another user’s session (404; staff use /admin/sessions)',
    cell: async (c) => ({ path: `/auth/sessions/${await sessionOfUser(c)}/revoke` }) },
  { method: 'POST', route: '/auth/session', expect: [200, 200, 200, 200, 200],
    cell: ({ fixtures }) => ({ path: '/auth/session', body: fixtures.login }) },
  { method: 'DELETE', route: '/auth/session', expect: [401, 204, 204, 204, 204],
    cell: async (c, who) => ({ path: '/auth/session', ...(await throwaway(c, who)) }) },

  // §8 Projects: auth required, owner-scoped, staff and admin see all; others' projects are 404.
  { method: 'GET', route: '/projects', expect: [401, 200, 200, 200, 200], cell: () => ({ path: '/projects' }) },
  { method: 'POST', route: '/projects', expect: [401, 201, 201, 201, 201],
    cell: () => ({ path: '/projects', body: { name: `Matrix ${next()}` } }) },
  { method: 'GET', route: '/projects/:id', expect: [401, 200, 404, 200, 200],
    cell: ({ fixtures }) => ({ path: `/projects/${need(fixtures.projectId, 'project', fixtures)}` }) },
  { method: 'PATCH', route: '/projects/:id', expect: [401, 200, 404, 200, 200],
    note: '“staff and admin see all” read as: their scope is every project, for changes too',
    cell: ({ fixtures }) => ({ path: `/projects/${need(fixtures.projectId, 'project', fixtures)}`, body: { description: `edited ${next()}` } }) },
  { method: 'DELETE', route: '/projects/:id', expect: [401, 204, 404, 204, 204],
    note: 'as PATCH; each cell deletes a fresh project of `user`',
    cell: async (c) => ({ path: `/projects/${await c.newProject()}` }) },

  // §8 Support tickets: anyone opens one; users read their own; staff read all and change them.
  { method: 'POST', route: '/support/tickets', expect: [201, 201, 201, 201, 201],
    cell: () => ({ path: '/support/tickets', body: { email: 'someone@example.test', subject: 'Matrix', message: 'Help' } }) },
  { method: 'GET', route: '/support/tickets', expect: [401, 200, 200, 200, 200],
    note: 'anonymous callers have no tickets of their own to list: 401',
    cell: () => ({ path: '/support/tickets' }) },
  { method: 'GET', route: '/support/tickets/:id', expect: [401, 200, 404, 200, 200],
    cell: ({ fixtures }) => ({ path: `/support/tickets/${need(fixtures.ticketId, 'ticket', fixtures)}` }) },
  { method: 'PATCH', route: '/support/tickets/:id', expect: [401, 403, 404, 200, 200],
    note: 'the owner may read but not change it (403); another user may not know it exists (404)',
    cell: ({ fixtures }) => ({ path: `/support/tickets/${need(fixtures.ticketId, 'ticket', fixtures)}`, body: { priority: 'high' } }) },

  // §8 Community posts: public reads of published posts; the author edits; staff moderate.
  { method: 'POST', route: '/community/posts', expect: [401, 201, 201, 201, 201],
    cell: () => ({ path: '/community/posts', body: { title: `Matrix ${next()}`, content: 'Hello' } }) },
  { method: 'GET', route: '/community/posts', expect: [200, 200, 200, 200, 200], cell: () => ({ path: '/community/posts' }) },
  { method: 'GET', route: '/community/posts/:id', expect: [200, 200, 200, 200, 200],
    cell: ({ fixtures }) => ({ path: `/community/posts/${need(fixtures.postId, 'post', fixtures)}` }) },
  { method: 'PATCH', route: '/community/posts/:id', variant: 'author edit', expect: [401, 200, 403, 403, 403],
    note: '“author edits title/content; staff set status”: only the author edits the text; the post is public, so others get 403, not 404',
    cell: ({ fixtures }) => ({ path: `/community/posts/${need(fixtures.postId, 'post', fixtures)}`, body: { title: `Edited ${next()}` } }) },
  { method: 'PATCH', route: '/community/posts/:id', variant: 'moderation', expect: [401, 403, 403, 200, 200],
    cell: async (c) => ({ path: `/community/posts/${await c.newPost()}`, body: { status: 'hidden', moderation_reason: 'Matrix' } }) },
  { method: 'DELETE', route: '/community/posts/:id', expect: [401, 204, 403, 204, 204],
    cell: async (c) => ({ path: `/community/posts/${await c.newPost()}` }) },
  { method: 'POST', route: '/community/posts/:id/reports', expect: [401, 403, 201, 201, 201],
    note: '“any signed-in user but the author”: the author is refused with 403',
    cell: async (c) => ({ path: `/community/posts/${await c.newPost()}/reports`, body: { reason: 'Spam' } }) },

  // §8 Status: staff post events; the rest is public.
  { method: 'POST', route: '/status/events', expect: [401, 403, 403, 201, 201],
    cell: ({ fixtures }) => ({ path: '/status/events', body: { service: fixtures.service, status: 'operational' } }) },
  { method: 'GET', route: '/status/events', expect: [200, 200, 200, 200, 200], cell: () => ({ path: '/status/events' }) },
  { method: 'GET', route: '/status/events/:id', expect: [200, 200, 200, 200, 200],
    note: 'not in the contract; public like the list it belongs to',
    cell: ({ fixtures }) => ({ path: `/status/events/${need(fixtures.statusEventId, 'status event', fixtures)}` }) },
  { method: 'GET', route: '/status', expect: [200, 200, 200, 200, 200], cell: () => ({ path: '/status' }) },
  { method: 'GET', route: '/status/services/:service', expect: [200, 200, 200, 200, 200],
    cell: ({ fixtures }) => ({ path: `/status/services/${fixtures.service}` }) },

  // §8 Admin: staff unless noted; user management is admin only.
  { method: 'GET', route: '/admin/users', expect: [401, 403, 403, 403, 200], cell: () => ({ path: '/admin/users' }) },
  { method: 'PATCH', route: '/admin/users/:id', expect: [401, 403, 403, 403, 200],
    cell: ({ fixtures }) => ({ path: `/admin/users/${fixtures.bystander.id}`, body: { role: 'user' } }) },
  { method: 'GET', route: '/admin/sessions', expect: [401, 403, 403, 200, 200], cell: () => ({ path: '/admin/sessions' }) },
  { method: 'POST', route: '/admin/sessions/:id/revoke', expect: [401, 403, 403, 200, 200],
    cell: ({ fixtures }) => ({ path: `/admin/sessions/${fixtures.bystander.sessionId}/revoke` }) },
  { method: 'POST', route: '/admin/users/:id/sessions/revoke-all', expect: [401, 403, 403, 200, 200],
    cell: ({ fixtures }) => ({ path: `/admin/users/${fixtures.bystander.id}/sessions/revoke-all` }) },
  { method: 'GET', route: '/admin/audit-log', expect: [401, 403, 403, 200, 200], cell: () => ({ path: '/admin/audit-log' }) },
  { method: 'GET', route: '/admin/csp-reports', expect: [401, 403, 403, 200, 200],
    note: '§9 reports “kept for the admin console”; /admin/* is staff unless noted',
    cell: () => ({ path: '/admin/csp-reports' }) },

  // §9 Browsers post CSP reports without credentials; anyone may.
  { method: 'POST', route: '/security/csp-report', expect: [204, 204, 204, 204, 204],
    cell: () => ({ path: '/security/csp-report', body: reportBody }) },
]

/** A session of `caller` made for one cell that ends it, so the caller's own token lives on. */
async function throwaway(c: Context, who: Caller): Promise<{ token?: string }> {
  if (who === 'anonymous') return {}
  return { token: (await c.signIn(c.as[who])).access_token }
}

let userSession: Promise<string> | undefined
/** One extra session of `user`, shared by the cells of its row (revoking it twice is harmless). */
function sessionOfUser(c: Context): Promise<string> {
  userSession ??= c.signIn(c.as.user).then((pair) => pair.session_id)
  return userSession
}

const label: Record<Caller, string> = {
  anonymous: 'anonymous',
  user: 'user',
  otherUser: 'another user',
  staff: 'staff',
  admin: 'admin',
}
const rowName = (row: Row) => `${row.method} /api/v1${row.route}${row.variant ? ` (${row.variant})` : ''}`
const routeCount = new Set(rows.map((row) => `${row.method} ${row.route}`)).size
const cellCount = rows.length * callers.length

describeEachDatabase('authorization matrix', (h) => {
  let context: Context
  const failures: string[] = []

  beforeAll(async () => {
    userSession = undefined
    const as = await createCallers(h())
    const login = { email: `matrix-login-${next()}@example.test`, password: 'correct horse battery staple' }
    await createUser(h().database.handle.db, login)
    const bystander = await createSignedInUser(h(), 'user', 'Bystander')
    const fixtures: Fixtures = { login, bystander, service: `matrix-${next()}`, errors: [] }
    const call = (method: string, path: string, token: string | undefined, body?: unknown) =>
      h().call(method, `/api/v1${path}`, { token, body })
    const created = async (what: string, res: Promise<TestResponse>) => {
      const response = await res
      if (response.status !== 201) {
        fixtures.errors.push(`${what}: ${response.status} ${response.text.slice(0, 200)}`)
        return undefined
      }
      return response.body
    }
    fixtures.projectId = (
      await created('project', call('POST', '/projects', as.user.token, { name: 'Owned by user' }))
    )?.id
    fixtures.ticketId = (
      await created(
        'ticket',
        call('POST', '/support/tickets', as.user.token, {
          email: as.user.email,
          subject: 'Mine',
          message: 'Help',
        }),
      )
    )?.id
    fixtures.postId = (
      await created(
        'post',
        call('POST', '/community/posts', as.user.token, { title: 'By user', content: 'Hi' }),
      )
    )?.id
    fixtures.statusEventId = (
      await created(
        'status event',
        call('POST', '/status/events', as.staff.token, { service: fixtures.service, status: 'degraded' }),
      )
    )?.id

    context = {
      h: h(),
      as,
      fixtures,
      async signIn(account) {
        const res = await call('POST', '/auth/token', undefined, {
          email: account.email,
          password: account.password,
        })
        if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${res.text}`)
        return res.body
      },
      async newProject() {
        const body = await created(
          'project',
          call('POST', '/projects', as.user.token, { name: `Doomed ${next()}` }),
        )
        return need(body?.id as string | undefined, 'fresh project', fixtures)
      },
      async newPost() {
        const body = await created(
          'post',
          call('POST', '/community/posts', as.user.token, { title: `Fresh ${next()}`, content: 'Hi' }),
        )
        return need(body?.id as number | undefined, 'fresh post', fixtures)
      },
    }
  }, 60_000)

  test(`covers every /api/v1 route: ${routeCount} routes in ${rows.length} rows x ${callers.length} callers = ${cellCount} cells`, () => {
    const methods = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])
    const registered = h()
      .app.routes.filter((route) => route.path.startsWith('/api/v1/') && methods.has(route.method))
      .map((route) => `${route.method} ${route.path.slice('/api/v1'.length)}`)
    const covered = rows.map((row) => `${row.method} ${row.route}`)
    expect({ missingFromMatrix: registered.filter((route) => !covered.includes(route)) }).toEqual({
      missingFromMatrix: [],
    })
    expect({ notInTheApp: [...new Set(covered)].filter((route) => !registered.includes(route)) }).toEqual({
      notInTheApp: [],
    })
  })

  for (const row of rows) {
    const expected = Object.fromEntries(callers.map((caller, i) => [caller, row.expect[i] as number]))
    const summary = callers.map((caller, i) => `${label[caller]} ${row.expect[i]}`).join(', ')
    test(`${rowName(row)}: ${summary}`, async () => {
      const actual: Record<string, number | string> = {}
      for (const caller of callers) {
        try {
          const cell = await row.cell(context, caller)
          const token = cell.token ?? (caller === 'anonymous' ? undefined : context.as[caller].token)
          const res = await h().call(row.method, `/api/v1${cell.path}`, {
            ...(cell.body !== undefined ? { body: cell.body } : {}),
            ...(token ? { token } : {}),
          })
          actual[caller] = res.status
          if (res.status !== expected[caller]) {
            failures.push(
              `${rowName(row)} as ${label[caller]}: expected ${expected[caller]}, got ${res.status} ${res.body?.code ?? ''}`.trim() +
                (row.note ? ` [contract note: ${row.note}]` : ''),
            )
          }
        } catch (error) {
          actual[caller] = `error: ${(error as Error).message}`
          failures.push(`${rowName(row)} as ${label[caller]}: ${(error as Error).message}`)
        }
      }
      expect(actual).toEqual(expected)
    }, 30_000)
  }

  afterAll(() => {
    const summary =
      failures.length === 0
        ? `authorization matrix [${h().kind}]: all ${cellCount} cells as the contract says`
        : `authorization matrix [${h().kind}]: ${failures.length} of ${cellCount} cells differ:\n  ${failures.join('\n  ')}`
    console.log(summary)
  })
})
