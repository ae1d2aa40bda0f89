import { createHash } from 'node:crypto'
import { and, eq, getTableColumns, getTableName, gt, sql } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { Elysia } from 'elysia'
import { type Database, rowsOf, type Transaction } from '../../db/client'
import { prepared, preparedSql, sqlStateOf } from '../../db/query'
import { idempotencyKeys } from '../../db/schema'
import type { Principal } from './auth'
import type { MetricsRegistry } from './metrics'
import { HttpError } from './problem'

/**
 * CONTRACT §5 (draft-ietf-httpapi-idempotency-key-header). A route opts in with
 * `{ idempotent: true }` (after `auth`/`identify`, whose principal scopes the key) and does its
 * writes inside `idempotency.run(tx => ...)`, or, when the write is one row whose every column it
 * decides itself (a uuid key, its own timestamps), hands that row to `idempotency.insert`, which
 * does all of the below in a single statement. The claim on a key is the write's transaction:
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
  /**
   * Inserts `row`, whose reply the caller already knows, and stores that reply, in one statement
   * with the key's lookup and claim: one round trip on the shared pool and no connection held
   * by a transaction. The row must name every column (nothing is left to a database default).
   */
  insert<T, Table extends PgTable>(table: Table, row: Table['$inferSelect'], answer: Reply<T>): Promise<T>
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

/**
 * The SQLSTATE with which the one-statement insert aborts itself (migration 0008's
 * `raise_unless`) when it took the key's lock but found the key stored meanwhile.
 */
const STORED_MEANWHILE = 'NF409'

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

  /** The live (unexpired) stored response of the key in placeholders scope, method, path, key. */
  const storedResponse = () =>
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

  async function findStored(key: ScopedKey) {
    const query = prepared(db, 'idempotency_key_stored', () =>
      storedResponse().limit(1).prepare('idempotency_key_stored'),
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
  async function store(tx: Transaction, values: KeyRowValues) {
    const v = (name: keyof KeyRowValues) => values[name]
    const stored = await rowsOf(tx, sql`with claim as (${claimKey(v)}) ${keepKeyRow(v, options.ttlSeconds)}`)
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

  /**
   * The one statement of `insert`, built once per table: the key's live stored response, if any
   * (then nothing else happens: a replay or a 422); else the key's advisory lock (not taken: a
   * duplicate is in flight, nothing is written, 409); else, holding it, the business row and the
   * key's row with the response. A duplicate that committed after this statement's snapshot is
   * found by the key row's ON CONFLICT; `raise_unless` then aborts the whole statement, the
   * business row with it.
   */
  const insertAndStore = (table: PgTable) =>
    preparedSql<InsertOutcome>(db, `idempotent_insert_${getTableName(table)}`, () => {
      const p = (name: string) => sql.placeholder(name)
      const columns = insertedColumns(table)
      return sql`with stored as (${storedResponse()}),
        claim as (${claimKey(p)} where not exists (select from stored)),
        written as (
          insert into ${table} (${sql.join(
            columns.map(([, column]) => sql.identifier(column.name)),
            sql`, `,
          )})
          select ${sql.join(
            columns.map(([name, column]) => sql`${p(`row.${name}`)}::${sql.raw(column.getSQLType())}`),
            sql`, `,
          )}
          where (select locked from claim)
        ),
        kept as (${keepKeyRow(p, options.ttlSeconds)})
        select stored.fingerprint, stored.response_status as status, stored.response_headers as headers,
          stored.response_body as body,
          raise_unless(not coalesce((select locked from claim), false) or exists (select from kept),
            ${STORED_MEANWHILE}, 'idempotency key stored meanwhile') and coalesce((select locked from claim), false)
            as stored
        from (values (1)) as one left join stored on true`
    })

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

          /** The reply of a write that committed: its status and headers on the response. */
          const answered = <T>(answer: Reply<T>): T => {
            set.status = answer.status
            Object.assign(set.headers, answer.headers)
            return answer.body
          }
          /** A stored response, its bytes as they are (a Response: unvalidated, unserialized). */
          const replayed = (stored: StoredResponse & { fingerprint: string }): never => {
            const { status: code, body: text } = replay(set, stored, fingerprint)
            return new Response(text, { status: code }) as never
          }
          /** After a failed claim: the duplicate committed (its response) or is in flight (409). */
          const afterLostClaim = async (claimed: ScopedKey): Promise<never> => {
            const stored = await findStored(claimed)
            if (!stored) throw inFlight()
            return replayed(stored)
          }

          const idempotencyContext: IdempotencyContext = {
            async run(work) {
              if (key) {
                const stored = await findStored(key)
                if (stored) return replayed(stored)
              }
              try {
                return answered(
                  await db.transaction(async (tx) => {
                    const answer = await work(tx)
                    if (key) await store(tx, keyRowValues(key, fingerprint, answer))
                    return answer
                  }),
                ) as never
              } catch (error) {
                if (!(error instanceof NotStored) || !key) throw error
                return afterLostClaim(key)
              }
            },

            async insert(table, row, answer) {
              if (!key) {
                await db.insert(table).values(row)
                return answered(answer) as never
              }
              let outcome: InsertOutcome | undefined
              try {
                ;[outcome] = await insertAndStore(table).execute({
                  ...rowValues(table, row),
                  ...keyRowValues(key, fingerprint, answer),
                })
              } catch (error) {
                if (sqlStateOf(error) !== STORED_MEANWHILE) throw error
                return afterLostClaim(key)
              }
              if (outcome?.stored) return answered(answer) as never
              if (outcome?.fingerprint)
                return replayed(outcome as InsertOutcome & StoredResponse & { fingerprint: string })
              throw inFlight()
            },
          }
          return { idempotency: idempotencyContext }
        },
      },
    })
    .as('global')
}

/** What the one-statement insert tells: the key's stored response, or whether it stored this one. */
type InsertOutcome = {
  fingerprint: string | null
  status: number | null
  headers: Record<string, string> | null
  body: string | null
  stored: boolean
}

const columnsByTable = new WeakMap<PgTable, [string, PgColumn][]>()

/**
 * Every column, by property name, worked out once per table; a column the database generates
 * cannot be known in advance.
 */
function insertedColumns(table: PgTable): [string, PgColumn][] {
  let columns = columnsByTable.get(table)
  if (!columns) {
    columns = Object.entries(getTableColumns(table))
    const generated = columns.find(([, column]) => column.generated || column.generatedIdentity)
    if (generated) throw new Error(`idempotency.insert: ${getTableName(table)}.${generated[0]} is generated`)
    columnsByTable.set(table, columns)
  }
  return columns
}

/** The row's columns as the statement's `row.<column>` placeholders, in the driver's encoding. */
function rowValues(table: PgTable, row: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {}
  for (const [name, column] of insertedColumns(table)) {
    const value = row[name]
    if (value === undefined) throw new Error(`idempotency.insert: the row has no ${name}`)
    values[`row.${name}`] = value === null ? null : column.mapToDriverValue(value)
  }
  return values
}

/** What the key's row is written from, by name: the statement parameters of `keepKeyRow`. */
interface KeyRowValues extends ScopedKey {
  lockName: string
  fingerprint: string
  responseStatus: number
  responseHeaders: string
  responseBody: string
}

function keyRowValues(key: ScopedKey, fingerprint: string, answer: Reply<unknown>): KeyRowValues {
  const response = storedFrom(answer)
  return {
    ...key,
    lockName: keyLockName(key),
    fingerprint,
    responseStatus: response.status,
    responseHeaders: JSON.stringify(response.headers),
    responseBody: response.body,
  }
}

/** A statement parameter by name: a bound value, or a placeholder of a statement built once. */
type Value = (name: keyof KeyRowValues) => unknown

/** The key's transaction-scoped advisory lock, taken or not (`locked`): the body of a CTE `claim`. */
const claimKey = (v: Value) =>
  sql`select pg_try_advisory_xact_lock(${sql.raw(String(KEY_LOCK_CLASS))}, hashtext(${v('lockName')})) as locked`

/**
 * Holding the lock of CTE `claim`, the key's row with the response (replacing an expired one);
 * returns a row only when it was written.
 */
const keepKeyRow = (v: Value, ttlSeconds: number) =>
  sql`insert into ${idempotencyKeys}
      (scope, method, path, key, fingerprint, response_status, response_headers, response_body, expires_at)
    select ${v('scope')}, ${v('method')}, ${v('path')}, ${v('key')}, ${v('fingerprint')},
      ${v('responseStatus')}::int, ${v('responseHeaders')}::jsonb, ${v('responseBody')},
      now() + make_interval(secs => ${ttlSeconds})
    from claim where claim.locked
    on conflict (scope, method, path, key) do update set
      fingerprint = excluded.fingerprint, completed_at = now(), response_status = excluded.response_status,
      response_headers = excluded.response_headers, response_body = excluded.response_body,
      expires_at = excluded.expires_at
    where ${idempotencyKeys}.expires_at <= now()
    returning 1`

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
