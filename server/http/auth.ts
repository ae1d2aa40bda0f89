import type { AnyPgColumn, PgTable } from 'drizzle-orm/pg-core'
import { Elysia } from 'elysia'
import type { Role, SessionKind } from '../../db/schema'
import { clientIpOf } from './client-ip'
import { forbidden, unauthenticated } from './problem'
import { requestMeta } from './request-id'

/** Who is calling: resolved once per request by the auth plugin. */
export interface Principal {
  user: { id: string; email: string; role: Role; fullName: string | null }
  session: { id: string; kind: SessionKind; luciaId: string; refreshedCookie: string | null }
}

export interface Authenticator {
  /** With `preload`, the row it names is read in the same statement as the session. */
  authenticate(
    credential: { bearer?: string; cookie?: string },
    preload?: PreloadRequest,
  ): Promise<{ principal: Principal; preloaded?: unknown }>
  lucia: { readSessionCookie(cookieHeader: string): string | null }
}

/**
 * A row a route reads on every call, fetched by the statement that validates the session, so that
 * the hottest item reads cost one round trip to PostgreSQL instead of two. The feature that owns
 * the table declares it (which table, which key, where the key comes from in the request) and
 * still decides who may see the row: authentication only fetches it, by key, for anyone.
 */
export interface Preload<Row> {
  /** Names the prepared statement (`session_and_<name>`). */
  readonly name: string
  readonly table: PgTable
  readonly key: AnyPgColumn
  keyOf(context: { params: Record<string, string> }): string
  /** The row the auth macro preloaded for this request (null: no row has that key). */
  row(preloaded: unknown): Row | null
}

export interface PreloadRequest {
  preload: Preload<unknown>
  key: string
}

export function preload<Row>(
  name: string,
  table: PgTable,
  key: AnyPgColumn,
  keyOf: (context: { params: Record<string, string> }) => string,
): Preload<Row> {
  return {
    name,
    table,
    key,
    keyOf,
    row(preloaded) {
      if (preloaded === undefined) throw new Error(`route lacks { auth: { preload: ${name} } }`)
      return preloaded as Row | null
    },
  }
}

/** `auth: true | 'staff' | 'admin'`, or with a row read alongside the session. */
export type AuthOption = true | Role | { role?: true | Role; preload: Preload<unknown> }

/** Who acts, as services see it: the caller's id and role, nothing about HTTP. */
export interface Actor {
  id: string
  role: Role
}

export const actorOf = (principal: Principal): Actor => ({ id: principal.user.id, role: principal.user.role })

const roleRank: Record<Role, number> = { user: 0, staff: 1, admin: 2 }
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * CONTRACT §7: `Authorization: Bearer` or the console's session cookie. Routes opt in with
 * `{ auth: true | 'staff' | 'admin' }` (401 without a valid credential, 403 without the role) or
 * `{ identify: true }` (anonymous allowed, the principal when there is one). A cookie-authenticated
 * write must come from our own origin (CSRF).
 */
export const auth = (authenticator: Authenticator, options: { trustedOrigins: string[] }) => {
  async function principalOf(
    request: Request,
    set: { headers: Record<string, unknown> },
    preload?: PreloadRequest,
  ): Promise<{ principal: Principal; preloaded?: unknown } | null> {
    const authorization = request.headers.get('authorization')
    let authenticated: { principal: Principal; preloaded?: unknown }
    if (authorization !== null) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
      if (!match?.[1]) throw unauthenticated('Use `Authorization: Bearer <access token>`.')
      authenticated = await authenticator.authenticate({ bearer: match[1] }, preload)
    } else {
      const cookie = authenticator.lucia.readSessionCookie(request.headers.get('cookie') ?? '')
      if (!cookie) return null
      authenticated = await authenticator.authenticate({ cookie }, preload)
      if (UNSAFE_METHODS.has(request.method) && !isSameOrigin(request, options.trustedOrigins)) {
        throw forbidden(
          'A cookie-authenticated write must come from the console’s own origin.',
          'csrf_rejected',
        )
      }
      const { refreshedCookie } = authenticated.principal.session
      if (refreshedCookie) set.headers['set-cookie'] = refreshedCookie
    }
    requestMeta(request).userId = authenticated.principal.user.id
    return authenticated
  }

  return new Elysia({ name: 'auth' })
    .macro({
      auth: (option: AuthOption) => {
        const required = typeof option === 'object' ? (option.role ?? true) : option
        const preload = typeof option === 'object' ? option.preload : undefined
        return {
          // Elysia dedupes macro applications by a JSON seed; a preload holds a (cyclic) table.
          seed: preload ? { role: required, preload: preload.name } : required,
          async resolve({ request, set, params }) {
            const authenticated = await principalOf(
              request,
              set,
              preload ? { preload, key: preload.keyOf({ params }) } : undefined,
            )
            if (!authenticated) throw unauthenticated()
            const { principal, preloaded } = authenticated
            if (required !== true && roleRank[principal.user.role] < roleRank[required]) {
              throw forbidden(`This needs the ${required} role.`)
            }
            return { principal, preloaded, client: clientOf(request) }
          },
        }
      },
      identify: {
        async resolve({ request, set }) {
          const authenticated = await principalOf(request, set)
          return { principal: authenticated?.principal ?? null, client: clientOf(request) }
        },
      },
    })
    .as('global')
}

/** The facts about the caller that audit rows and sessions record. */
export const clientOf = (request: Request) => ({
  get ip() {
    return clientIpOf(request)
  },
  userAgent: request.headers.get('user-agent'),
})

function isSameOrigin(request: Request, trustedOrigins: string[]): boolean {
  const source = request.headers.get('origin') ?? originOf(request.headers.get('referer'))
  if (!source || source === 'null') return false
  if (trustedOrigins.includes(source)) return true
  const host = request.headers.get('host') ?? new URL(request.url).host
  return originOf(source)?.endsWith(`//${host}`) ?? false
}

function originOf(url: string | null): string | null {
  if (!url) return null
  try {
    return new URL(url).origin
  } catch {
    return null
  }
}

export const hasRole = (role: Role, required: Role) => roleRank[role] >= roleRank[required]

export type AuthPlugin = ReturnType<typeof auth>
