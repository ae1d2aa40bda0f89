import { createHash } from 'node:crypto'
import { and, eq, isNull, sql } from 'drizzle-orm'
import { Elysia, status } from 'elysia'
import type { Database, Executor, Transaction } from '../../db/client'
import { idempotencyKeys } from '../../db/schema'
import type { Principal } from './auth'
import type { MetricsRegistry } from './metrics'
import { HttpError } from './problem'

/**
 * CONTRACT §5 (draft-ietf-httpapi-idempotency-key-header). A route opts in with
 * `{ idempotent: true }` (after `auth`/`identify`, whose principal scopes the key) and does its
 * writes inside `idempotency.run(tx => ...)`: the business write and the stored response then
 * commit in one transaction, so a crash leaves both or neither.
 *
 * - no key: the request simply runs once (still in one transaction);
 * - first use: an atomic claim (the primary key of `idempotency_keys`);
 * - same key, same fingerprint, completed: the stored response, byte for byte, with
 *   `Idempotent-Replayed: true`;
 * - same key while the first is in flight: 409 `idempotency_key_in_use`, `Retry-After: 1`;
 * - same key, different fingerprint: 422 `idempotency_key_reused`;
 * - errors (4xx, 5xx) release the claim, so the client may retry; a claim whose process died is
 *   taken over after `claimTimeoutSeconds`.
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
  claimTimeoutSeconds?: number
}

const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/
/** The only response headers worth replaying; the rest (request id, rate limits) are per request. */
const REPLAYED_HEADERS = ['location', 'etag', 'content-type'] as const

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

interface Claim {
  scope: string
  method: string
  path: string
  key: string
  claimToken: string
  settled: boolean
}

export const idempotency = (options: IdempotencyOptions) => {
  const { db } = options
  const claimTimeoutSeconds = options.claimTimeoutSeconds ?? 60
  const replays = options.registry.counter(
    'idempotency_replays_total',
    'Requests answered with a stored response.',
  )
  const conflicts = options.registry.counter(
    'idempotency_conflicts_total',
    'Idempotency-Key requests refused: in_flight (409) or reused with another body (422).',
    ['kind'],
  )
  const claims = new WeakMap<Request, Claim>()

  const claimWhere = (claim: Claim) =>
    and(
      eq(idempotencyKeys.scope, claim.scope),
      eq(idempotencyKeys.method, claim.method),
      eq(idempotencyKeys.path, claim.path),
      eq(idempotencyKeys.key, claim.key),
      eq(idempotencyKeys.claimToken, claim.claimToken),
    )

  async function release(claim: Claim) {
    if (claim.settled) return
    claim.settled = true
    await db.delete(idempotencyKeys).where(and(claimWhere(claim), isNull(idempotencyKeys.completedAt)))
  }

  async function complete(
    tx: Executor,
    claim: Claim,
    stored: { status: number; headers: Record<string, string>; body: string },
  ) {
    const updated = await tx
      .update(idempotencyKeys)
      .set({
        completedAt: sql`now()`,
        responseStatus: stored.status,
        responseHeaders: stored.headers,
        responseBody: stored.body,
        expiresAt: sql`now() + make_interval(secs => ${options.ttlSeconds})`,
      })
      .where(and(claimWhere(claim), isNull(idempotencyKeys.completedAt)))
      .returning({ key: idempotencyKeys.key })
    // Our claim was taken over as dead while we ran: roll the business write back too.
    if (updated.length === 0) throw inFlight()
  }

  const inFlight = () =>
    new HttpError(
      409,
      'idempotency_key_in_use',
      'A request with this Idempotency-Key is still being processed.',
      {
        headers: { 'retry-after': '1' },
      },
    )

  return new Elysia({ name: 'idempotency' })
    .macro({
      idempotent: {
        async resolve(context) {
          const { request, set, path, body } = context
          const principal = (context as { principal?: Principal | null }).principal
          if (principal === undefined) {
            throw new Error('`idempotent` must come after `auth` or `identify` in the route options')
          }
          const key = request.headers.get('idempotency-key')
          const claim = key === null ? null : await claimKey(request, key, principal, path, body)
          if (claim && 'replay' in claim) {
            replays.inc()
            Object.assign(set.headers, claim.replay.headers, { 'idempotent-replayed': 'true' })
            return status(claim.replay.status, claim.replay.body)
          }
          const idempotencyContext: IdempotencyContext = {
            async run(work) {
              const result = await db
                .transaction(async (tx) => {
                  const answer = await work(tx)
                  if (claim) {
                    const headers: Record<string, string> = {
                      'content-type': 'application/json; charset=utf-8',
                    }
                    for (const name of REPLAYED_HEADERS) {
                      const value = answer.headers?.[name]
                      if (value) headers[name] = value
                    }
                    await complete(tx, claim.claim, {
                      status: answer.status,
                      headers,
                      body: JSON.stringify(answer.body),
                    })
                  }
                  return answer
                })
                .catch(async (error: unknown) => {
                  // A 4xx or 5xx from the work is not stored: release the key before answering.
                  if (claim) await release(claim.claim)
                  throw error
                })
              if (claim) claim.claim.settled = true
              set.status = result.status
              Object.assign(set.headers, result.headers)
              return result.body
            },
          }
          return { idempotency: idempotencyContext }
        },
        // A failure outside `run` (which releases its own) still frees the key for a retry.
        async afterResponse({ request }) {
          const claim = claims.get(request)
          if (claim) await release(claim).catch(() => {})
        },
      },
    })
    .as('global')

  async function claimKey(
    request: Request,
    key: string,
    principal: Principal | null,
    path: string,
    body: unknown,
  ): Promise<
    { claim: Claim } | { replay: { status: number; headers: Record<string, string>; body: string } }
  > {
    if (!KEY_PATTERN.test(key)) {
      throw new HttpError(
        400,
        'invalid_idempotency_key',
        'Idempotency-Key must be 1 to 255 printable ASCII characters.',
      )
    }
    const claim: Claim = {
      scope: principal ? `user:${principal.user.id}` : 'anonymous',
      method: request.method,
      path,
      key,
      claimToken: crypto.randomUUID(),
      settled: false,
    }
    const fingerprint = fingerprintOf(request.method, path, body)
    // One statement claims a new key, replaces an expired one, or takes over a dead claim.
    const [claimed] = await db
      .insert(idempotencyKeys)
      .values({
        scope: claim.scope,
        method: claim.method,
        path: claim.path,
        key,
        fingerprint,
        claimToken: claim.claimToken,
        expiresAt: sql`now() + make_interval(secs => ${options.ttlSeconds})`,
      })
      .onConflictDoUpdate({
        target: [idempotencyKeys.scope, idempotencyKeys.method, idempotencyKeys.path, idempotencyKeys.key],
        set: {
          fingerprint,
          claimToken: claim.claimToken,
          claimedAt: sql`now()`,
          completedAt: null,
          responseStatus: null,
          responseHeaders: null,
          responseBody: null,
          expiresAt: sql`excluded.expires_at`,
        },
        setWhere: sql`${idempotencyKeys.expiresAt} < now() or (${idempotencyKeys.completedAt} is null and ${idempotencyKeys.fingerprint} = excluded.fingerprint and ${idempotencyKeys.claimedAt} < now() - make_interval(secs => ${claimTimeoutSeconds}))`,
      })
      .returning({ claimToken: idempotencyKeys.claimToken })
    if (claimed?.claimToken === claim.claimToken) {
      claims.set(request, claim)
      return { claim }
    }

    const [existing] = await db
      .select()
      .from(idempotencyKeys)
      .where(
        and(
          eq(idempotencyKeys.scope, claim.scope),
          eq(idempotencyKeys.method, claim.method),
          eq(idempotencyKeys.path, claim.path),
          eq(idempotencyKeys.key, key),
        ),
      )
    if (existing && existing.fingerprint !== fingerprint) {
      conflicts.inc({ kind: 'reused' })
      throw new HttpError(
        422,
        'idempotency_key_reused',
        'This Idempotency-Key was already used with a different request; use a new key for a new request.',
      )
    }
    if (existing?.completedAt && existing.responseStatus !== null && existing.responseBody !== null) {
      return {
        replay: {
          status: existing.responseStatus,
          headers: existing.responseHeaders ?? {},
          body: existing.responseBody,
        },
      }
    }
    conflicts.inc({ kind: 'in_flight' })
    throw inFlight()
  }
}

export type IdempotencyPlugin = ReturnType<typeof idempotency>
