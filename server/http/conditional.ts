import { Elysia, ElysiaCustomStatusResponse, status } from 'elysia'
import { numericStatus } from './metrics'
import { HttpError } from './problem'

/**
 * CONTRACT §4 (RFC 9110 conditional requests), in one plugin:
 * - items: a handler answers through `item(context, version, render)`: the row version is the
 *   strong tag, and a matching `If-None-Match` is a 304 before anything is rendered;
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

/** What Elysia's own JSON responses carry (`Response.json`). */
const JSON_CONTENT_TYPE = 'application/json;charset=utf-8'
const PRIVATE_CACHE = 'private, no-cache'
const PUBLIC_CACHE = 'public, max-age=15, stale-while-revalidate=30'

function appendVary(headers: Record<string, unknown>, values: string) {
  const current = typeof headers.vary === 'string' ? headers.vary : ''
  headers.vary = current ? `${current}, ${values}` : values
}

/** What an API GET's 200 and its 304 both carry: its cache policy, private unless it said public. */
function applyCachePolicy(headers: Record<string, unknown>) {
  if (headers['cache-control'] !== undefined) return
  headers['cache-control'] = PRIVATE_CACHE
  appendVary(headers, 'Authorization, Cookie')
}

/**
 * How an item GET answers: the row version as its strong ETag and, when the request's
 * `If-None-Match` already holds that version, the 304 at once, before the body is rendered or
 * validated; otherwise `render()`.
 */
export function item<T>(
  context: { request: Request; set: { headers: Record<string, unknown> } },
  version: number,
  render: () => T,
): T {
  const etag = itemEtag(version)
  context.set.headers.etag = etag
  if (!noneMatch(context.request.headers.get('if-none-match'), etag)) return render()
  applyCachePolicy(context.set.headers)
  return status(304, '') as never
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
  // mapResponse, not afterHandle: a list's body is serialized here once and its weak ETag hashed
  // from those bytes (hashing a JSON.stringify of its own doubled the serialization cost).
  .mapResponse({ as: 'global' }, ({ request, path, set, responseValue }) => {
    // Whatever this hook does not answer it hands back unchanged: for errors, Elysia 1.4 sends
    // what a global mapResponse returns, so `undefined` there would blank every problem body.
    if (request.method !== 'GET' && request.method !== 'HEAD') return unchanged(responseValue)
    const wrapped = responseValue instanceof ElysiaCustomStatusResponse
    const value = wrapped ? responseValue.response : responseValue
    const code = wrapped ? numericStatus(responseValue.code) : numericStatus(set.status)
    const json = typeof value === 'object' && value !== null && !(value instanceof Response)
    if (code !== 200 || !json || !path.startsWith('/api/')) return unchanged(responseValue)

    applyCachePolicy(set.headers)
    const body = JSON.stringify(value)
    // An item's strong tag is set by `item()`, which has already answered its 304.
    if (set.headers.etag === undefined) {
      const listTag = `W/"${Bun.hash(body).toString(36)}"`
      set.headers.etag = listTag
      if (noneMatch(request.headers.get('if-none-match'), listTag)) return notModified(set)
    }
    set.headers['content-type'] = JSON_CONTENT_TYPE
    return sendAsIs(body)
  })

function notModified(set: { status?: number | string }) {
  set.status = 304
  return sendAsIs('')
}

/**
 * Elysia maps what `mapResponse` returns as it maps a handler's value: a string becomes
 * `new Response(body, set)`, one object carrying the headers of `set` (for a 304, without a body).
 * That measured cheaper than Elysia's `Response.json(value, set)` for objects, and than a Response
 * built here, which Elysia copies into a second one to merge the headers. Its types admit only a
 * Response.
 */
const sendAsIs = (body: string) => body as unknown as Response
const unchanged = (value: unknown) => value as Response
