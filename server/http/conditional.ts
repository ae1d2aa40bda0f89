import { Elysia, ElysiaCustomStatusResponse } from 'elysia'
import { numericStatus } from './metrics'
import { HttpError } from './problem'

/**
 * CONTRACT §4 (RFC 9110 conditional requests), in one plugin:
 * - items: a handler names the row version with `itemEtag(version)`; the tag is strong;
 * - lists: every 200 GET without an ETag gets a weak one hashed from the page it returns (items,
 *   total and paging), so it changes whenever any of them does, and the query is part of the URL;
 * - `If-None-Match` (weak comparison, lists of tags, `*`) answers 304 with the same ETag,
 *   Cache-Control and Vary as the 200;
 * - `If-Match` (strong comparison) is parsed here and checked by services against the row they
 *   lock, so a stale tag is 412 and changes nothing;
 * - `cache: 'public'` routes are shared-cacheable; every other GET is `private, no-cache` and
 *   varies by credential.
 */

export const itemEtag = (version: number) => `"v${version}"`

export type IfMatch = { any: true } | { versions: number[] } | null

/** The `If-Match` of a request: null when absent. Weak or foreign tags never match (strong comparison). */
export function ifMatchOf(request: Request): IfMatch {
  const header = request.headers.get('if-match')
  if (header === null) return null
  if (header.trim() === '*') return { any: true }
  const versions = header
    .split(',')
    .map((tag) => /^\s*"v(\d+)"\s*$/.exec(tag)?.[1])
    .filter((version): version is string => version !== undefined)
    .map(Number)
  return { versions }
}

export function assertIfMatch(ifMatch: IfMatch, currentVersion: number): void {
  if (ifMatch === null || 'any' in ifMatch || ifMatch.versions.includes(currentVersion)) return
  throw new HttpError(
    412,
    'precondition_failed',
    `The resource has changed (its ETag is now ${itemEtag(currentVersion)}); fetch it again and reapply your change.`,
    { extensions: { current_etag: itemEtag(currentVersion) } },
  )
}

/** Weak comparison of `If-None-Match` against an ETag (RFC 9110 §13.1.2). */
export function noneMatch(header: string | null, etag: string): boolean {
  if (header === null) return false
  if (header.trim() === '*') return true
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '')
  const target = opaque(etag)
  return header.split(',').some((tag) => opaque(tag) === target)
}

const PRIVATE_CACHE = 'private, no-cache'
const PUBLIC_CACHE = 'public, max-age=15, stale-while-revalidate=30'

function appendVary(headers: Record<string, unknown>, values: string) {
  const current = typeof headers.vary === 'string' ? headers.vary : ''
  headers.vary = current ? `${current}, ${values}` : values
}

export const conditional = new Elysia({ name: 'conditional' })
  .macro({
    /** Marks a GET whose body is the same for every caller (public status endpoints). */
    cache: (policy: 'public') => ({
      beforeHandle({ set }) {
        set.headers['cache-control'] = policy === 'public' ? PUBLIC_CACHE : PRIVATE_CACHE
      },
    }),
  })
  .onAfterHandle({ as: 'global' }, ({ request, set, responseValue }) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return
    const value = responseValue instanceof ElysiaCustomStatusResponse ? responseValue.response : responseValue
    const code =
      responseValue instanceof ElysiaCustomStatusResponse
        ? numericStatus(responseValue.code)
        : numericStatus(set.status)
    if (code !== 200 || value instanceof Response || !request.url.includes('/api/')) return

    if (set.headers['cache-control'] === undefined) {
      set.headers['cache-control'] = PRIVATE_CACHE
      appendVary(set.headers, 'Authorization, Cookie')
    }
    let etag = set.headers.etag as string | undefined
    if (etag === undefined) {
      etag = `W/"${Bun.hash(JSON.stringify(value)).toString(36)}"`
      set.headers.etag = etag
    }
    if (noneMatch(request.headers.get('if-none-match'), etag)) {
      set.status = 304
      return new Response(null, { status: 304 })
    }
  })
