import { Elysia } from 'elysia'

/** Headers a browser client may read (CONTRACT §4). */
export const EXPOSED_HEADERS = [
  'ETag',
  'Location',
  'Link',
  'Retry-After',
  'X-Request-ID',
  'Idempotent-Replayed',
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'RateLimit',
  'RateLimit-Policy',
]

/**
 * CONTRACT §1: cross-origin access only for the origins in `CORS_ORIGINS` (none by default).
 * Headers are set at request start so that problems and preflights carry them too.
 */
export const cors = (allowedOrigins: string[]) => {
  const allowed = new Set(allowedOrigins)
  return new Elysia({ name: 'cors' })
    .onRequest(({ request, set }) => {
      const origin = request.headers.get('origin')
      if (allowed.size === 0) return
      set.headers.vary = 'Origin'
      if (!origin || !allowed.has(origin)) return
      set.headers['access-control-allow-origin'] = origin
      set.headers['access-control-expose-headers'] = EXPOSED_HEADERS.join(', ')
      if (request.method === 'OPTIONS' && request.headers.has('access-control-request-method')) {
        set.headers['access-control-allow-methods'] = 'GET, HEAD, POST, PATCH, DELETE'
        set.headers['access-control-allow-headers'] =
          'Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, X-Request-ID'
        set.headers['access-control-max-age'] = '600'
        set.status = 204
        return new Response(null, { status: 204 })
      }
    })
    .as('global')
}
