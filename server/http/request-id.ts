import { Elysia } from 'elysia'

/**
 * Per-request facts every later stage needs (the id for logs and problems, the start time for
 * metrics), keyed by the Request itself so that they exist even for requests that match no route.
 */
export interface RequestMeta {
  id: string
  startedAt: number
  /**
   * The client address (CONTRACT §6): worked out by the client-ip plugin's `resolveIp` when first
   * asked for (`clientIpOf`), since most authenticated requests never need it.
   */
  ip?: string
  resolveIp?: () => string
  /** The authenticated user, set by the auth plugin, for the access log. */
  userId?: string
}

/**
 * The path of a request URL, without the query: what `new URL(url).pathname` gives for the URLs
 * Bun hands us (already normalized), at a fraction of its cost on every request.
 */
export function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2)
  if (start === -1) return '/'
  const query = url.indexOf('?', start)
  return query === -1 ? url.slice(start) : url.slice(start, query)
}

const metas = new WeakMap<Request, RequestMeta>()
const ACCEPTABLE_ID = /^[A-Za-z0-9._-]{1,128}$/

export function requestMeta(request: Request): RequestMeta {
  let meta = metas.get(request)
  if (!meta) {
    meta = { id: crypto.randomUUID(), startedAt: performance.now() }
    metas.set(request, meta)
  }
  return meta
}

/** CONTRACT §2: every response carries `X-Request-ID`, the caller's when it is well-formed. */
export const requestId = new Elysia({ name: 'request-id' })
  .onRequest(({ request, set }) => {
    const incoming = request.headers.get('x-request-id')
    const id = incoming && ACCEPTABLE_ID.test(incoming) ? incoming : crypto.randomUUID()
    metas.set(request, { id, startedAt: performance.now() })
    set.headers['x-request-id'] = id
  })
  .as('global')
