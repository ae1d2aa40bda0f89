import { createHash } from 'node:crypto'
import { and, eq, gt, sql } from 'drizzle-orm'
import { Elysia, status } from 'elysia'
import { type Database, rowsOf, type Transaction } from '../../db/client'
import { prepared } from '../../db/query'
import { idempotencyKeys } from '../../db/schema'
import type { Principal } from './auth'
import type { MetricsRegistry } from './metrics'
import { HttpError } from './problem'

/**
 * CONTRACT §5 (draft-ietf-httpapi-idempotency-key-header). A route opts in with
 * `{ idempotent: true }` (after `auth`/`identify`, whose principal scopes the key) and does its
 * writes inside `idempotency.run(tx => ...)`. The claim on a key is that transaction itself:
 *
 * - first use: the transaction runs the business write, then takes a transaction-scoped advisory
 *   lock on the key and inserts the key's row with the response, and commits once: a crash leaves
 *   both or neither, and an error, a crash or a lost connection releases the key at once;
 * - same key, same fingerprint, completed: the stored response (one read, before any lock), byte
 *   for byte, with `Idempotent-Replayed: true`;
 * - same key while the first is in flight: the lock is taken, so the write is rolled back and the
 *   answer is 409 `idempotency_key_in_use` with `Retry-After: 1`, without waiting for the first;
 * - same key, different fingerprint: 422 `idempotency_key_reused`;
 * - a duplicate that read before the first committed and stores after it finds the stored row: its
 *   write is rolled back and it answers the stored response instead.
 * - no key: the request simply runs once (still in one transaction).
 */

/** What a handler answers inside `run`: the status, the body and the headers worth replaying. */
export interface Reply<T> {
  status: number
  body: T
  headers?: Record<string, string>
}

export const reply = {
  ok: <T>(body: T, headers?: Record<string, string>): Reply<T> => ({
    status: 200,
    body,
    ...(headers ? { headers } : {}),
  }),
  created: <T>(body: T, location: string, headers: Record<string, string> = {}): Reply<T> => ({
    status: 201,
    body,
    headers: { location, ...headers },
  }),
}

export interface IdempotencyContext {
  /** Runs `work` in one transaction with the storing of its response; applies the reply. */
  run<T>(work: (tx: Transaction) => Promise<Reply<T>>): Promise<T>
}

export interface IdempotencyOptions {
  db: Database
  registry: MetricsRegistry
  ttlSeconds: number
}

const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/
/** The only response headers worth replaying; the rest (request id, rate limits) are per request. */
const REPLAYED_HEADERS = ['location', 'etag', 'content-type'] as const
/** Advisory-lock class (first key) of in-flight idempotency keys; the second is the key's hash. */
export const KEY_LOCK_CLASS = 0x4944 // "ID"

/** The text whose `hashtext` is the second key of a scoped key's advisory lock. */
export const keyLockName = (key: ScopedKey) => `${key.scope} ${key.method} ${key.path} ${key.key}`

/** JSON with object keys sorted at every depth, so `{"a":1,"b":2}` and `{ "b": 2, "a": 1 }` agree. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
    return `{${entries.join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

export function fingerprintOf(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${canonicalJson(body ?? null)}`)
    .digest('hex')
}

/** A key as §5 scopes it: the caller, the method and the path. */
export interface ScopedKey {
  scope: string
  method: string
  path: string
  key: string
}

interface StoredResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/** Thrown inside the transaction when a duplicate holds or has stored the key: roll back first. */
class NotStored extends Error {}

export const idempotency = (options: IdempotencyOptions) => {
  const { db } = options
  const replays = options.registry.counter(
    'idempotency_replays_total',
    'Requests answered with a stored response.',
  )
  const conflicts = options.registry.counter(
    'idempotency_conflicts_total',
    'Idempotency-Key requests refused: in_flight (409) or reused with another body (422).',
    ['kind'],
  )
  for (const kind of ['in_flight', 'reused']) conflicts.init({ kind })

  const inFlight = () => {
    conflicts.inc({ kind: 'in_flight' })
    return new HttpError(
      409,
      'idempotency_key_in_use',
      'A request with this Idempotency-Key is still being processed.',
      { headers: { 'retry-after': '1' } },
    )
  }
  const reused = () => {
    conflicts.inc({ kind: 'reused' })
    return new HttpError(
      422,
      'idempotency_key_reused',
      'This Idempotency-Key was already used with a different request; use a new key for a new request.',
    )
  }

  /** The live (unexpired) stored response of a key, or undefined. */
  async function findStored(key: ScopedKey) {
    const query = prepared(db, 'idempotency_key_stored', () =>
      db
        .select({
          fingerprint: idempotencyKeys.fingerprint,
          status: idempotencyKeys.responseStatus,
          headers: idempotencyKeys.responseHeaders,
          body: idempotencyKeys.responseBody,
        })
        .from(idempotencyKeys)
        .where(
          and(
            eq(idempotencyKeys.scope, sql.placeholder('scope')),
            eq(idempotencyKeys.method, sql.placeholder('method')),
            eq(idempotencyKeys.path, sql.placeholder('path')),
            eq(idempotencyKeys.key, sql.placeholder('key')),
            gt(idempotencyKeys.expiresAt, sql`now()`),
          ),
        )
        .limit(1)
        .prepare('idempotency_key_stored'),
    )
    const [row] = await query.execute({ ...key })
    return row
  }

  /**
   * The last statement of the business transaction: takes the key's transaction-scoped advisory
   * lock and, holding it, inserts the key's row with the response (replacing an expired one).
   * Throws `NotStored` when either fails: a duplicate is still in flight (it holds the lock) or has
   * committed (its row is there); the caller rolls back and tells which. Taking the lock here rather
   * than first saves a round trip per write; a duplicate in flight merely runs its write to be undone.
   */
  async function store(tx: Transaction, key: ScopedKey, fingerprint: string, response: StoredResponse) {
    const stored = await rowsOf(
      tx,
      sql`with claim as (select pg_try_advisory_xact_lock(${KEY_LOCK_CLASS}::int, hashtext(${keyLockName(key)})) as locked)
        insert into idempotency_keys
          (scope, method, path, key, fingerprint, response_status, response_headers, response_body, expires_at)
        select ${key.scope}, ${key.method}, ${key.path}, ${key.key}, ${fingerprint}, ${response.status}::int,
          ${JSON.stringify(response.headers)}::jsonb, ${response.body},
          now() + make_interval(secs => ${options.ttlSeconds})
        from claim where claim.locked
        on conflict (scope, method, path, key) do update set
          fingerprint = excluded.fingerprint, completed_at = now(), response_status = excluded.response_status,
          response_headers = excluded.response_headers, response_body = excluded.response_body,
          expires_at = excluded.expires_at
        where idempotency_keys.expires_at <= now()
        returning 1 as stored`,
    )
    if (stored.length === 0) throw new NotStored()
  }

  /** Applies a stored response's headers for this fingerprint; 422 for another fingerprint. */
  function replay(
    set: { headers: Record<string, unknown>; status?: number | string },
    stored: StoredResponse & { fingerprint: string },
    fingerprint: string,
  ) {
    if (stored.fingerprint !== fingerprint) throw reused()
    replays.inc()
    Object.assign(set.headers, stored.headers, { 'idempotent-replayed': 'true' })
    set.status = stored.status
    return stored
  }

  return new Elysia({ name: 'idempotency' })
    .macro({
      idempotent: {
        async resolve(context) {
          const { request, set, path, body } = context
          const principal = (context as { principal?: Principal | null }).principal
          if (principal === undefined) {
            throw new Error('`idempotent` must come after `auth` or `identify` in the route options')
          }
          const header = request.headers.get('idempotency-key')
          if (header !== null && !KEY_PATTERN.test(header)) {
            throw new HttpError(
              400,
              'invalid_idempotency_key',
              'Idempotency-Key must be 1 to 255 printable ASCII characters.',
            )
          }
          const key: ScopedKey | null =
            header === null
              ? null
              : {
                  scope: principal ? `user:${principal.user.id}` : 'anonymous',
                  method: request.method,
                  path,
                  key: header,
                }
          const fingerprint = key ? fingerprintOf(request.method, path, body) : ''
          if (key) {
            const stored = await findStored(key)
            if (stored) {
              const { status: code, body: text } = replay(set, stored, fingerprint)
              return status(code, text)
            }
          }

          const idempotencyContext: IdempotencyContext = {
            async run(work) {
              let result: Reply<unknown>
              try {
                result = await db.transaction(async (tx) => {
                  const answer = await work(tx)
                  if (key) await store(tx, key, fingerprint, storedFrom(answer))
                  return answer
                })
              } catch (error) {
                if (!(error instanceof NotStored) || !key) throw error
                // Committed meanwhile: its response. Otherwise it is still in flight.
                const stored = await findStored(key)
                if (!stored) throw inFlight()
                const { status: code, body: text } = replay(set, stored, fingerprint)
                // A Response, not the body: the stored bytes go out as they are, unvalidated.
                return new Response(text, { status: code }) as never
              }
              set.status = result.status
              Object.assign(set.headers, result.headers)
              return result.body as never
            },
          }
          return { idempotency: idempotencyContext }
        },
      },
    })
    .as('global')
}

/** What is kept of an answer: status, JSON body, and the headers worth replaying. */
function storedFrom(answer: Reply<unknown>): StoredResponse {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' }
  for (const name of REPLAYED_HEADERS) {
    const value = answer.headers?.[name]
    if (value) headers[name] = value
  }
  return { status: answer.status, headers, body: JSON.stringify(answer.body) }
}

export type IdempotencyPlugin = ReturnType<typeof idempotency>
