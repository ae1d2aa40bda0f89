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
  authenticate(credential: { bearer?: string; cookie?: string }): Promise<Principal>
  lucia: { readSessionCookie(cookieHeader: string): string | null }
}

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
  ): Promise<Principal | null> {
    const authorization = request.headers.get('authorization')
    let principal: Principal
    if (authorization !== null) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
      if (!match?.[1]) throw unauthenticated('Use `Authorization: Bearer <access token>`.')
      principal = await authenticator.authenticate({ bearer: match[1] })
    } else {
      const cookie = authenticator.lucia.readSessionCookie(request.headers.get('cookie') ?? '')
      if (!cookie) return null
      principal = await authenticator.authenticate({ cookie })
      if (UNSAFE_METHODS.has(request.method) && !isSameOrigin(request, options.trustedOrigins)) {
        throw forbidden(
          'A cookie-authenticated write must come from the console’s own origin.',
          'csrf_rejected',
        )
      }
      if (principal.session.refreshedCookie) set.headers['set-cookie'] = principal.session.refreshedCookie
    }
    requestMeta(request).userId = principal.user.id
    return principal
  }

  return new Elysia({ name: 'auth' })
    .macro({
      auth: (required: true | Role) => ({
        async resolve({ request, set }) {
          const principal = await principalOf(request, set)
          if (!principal) throw unauthenticated()
          if (required !== true && roleRank[principal.user.role] < roleRank[required]) {
            throw forbidden(`This needs the ${required} role.`)
          }
          return { principal, client: clientOf(request) }
        },
      }),
      identify: {
        async resolve({ request, set }) {
          return { principal: await principalOf(request, set), client: clientOf(request) }
        },
      },
    })
    .as('global')
}

/** The facts about the caller that audit rows and sessions record. */
export const clientOf = (request: Request) => ({
  ip: clientIpOf(request),
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
