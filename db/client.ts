import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite, type Transaction as PgliteTransaction } from '@electric-sql/pglite'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import { type ExtractTablesWithRelations, type SQL, sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import * as schema from './schema'

/**
 * The one place that knows which driver runs. Everything above db/ sees `Database`: the same
 * drizzle API whether the rows come from a PostgreSQL server (postgres-js) or embedded PGlite.
 */
export type Schema = typeof schema
export type Database = PgDatabase<PgQueryResultHKT, Schema>
export type Transaction = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>
/** Either the database or an open transaction: services take this so callers choose the scope. */
export type Executor = Database | Transaction

export type DatabaseTarget = { url: string } | { dataDir: string | null; loadDataDir?: Blob | File }

/**
 * Sees each statement as it starts, with its parameterised SQL (never the values), for tracing.
 * The function it returns, if any, is called once when the statement settles.
 */
export type QueryObserver = (sql: string) => ((error?: unknown) => void) | undefined

export interface DatabaseHandle {
  db: Database
  driver: 'postgres' | 'pglite'
  /** Runs raw SQL and returns its rows, hiding the drivers' different result shapes. */
  rows<T extends Record<string, unknown>>(query: SQL): Promise<T[]>
  /**
   * Runs `fn` while holding a session-level advisory lock on one dedicated connection, so that
   * across every instance sharing the database only one holder runs at a time.
   */
  withAdvisoryLock<T>(key: bigint, fn: () => Promise<T>, options?: { wait?: boolean }): Promise<T | undefined>
  ping(): Promise<boolean>
  /** Reports every later statement to `observer` (tracing). Until called, the driver is untouched. */
  observeQueries(observer: QueryObserver): void
  close(): Promise<void>
  /** PGlite only: a tarball of the data directory, used to clone migrated test databases. */
  dump?(): Promise<Blob>
}

export interface PostgresOptions {
  /** Pool size; postgres-js opens connections lazily up to it. */
  max?: number
}

export async function openDatabase(
  target: DatabaseTarget,
  options: PostgresOptions = {},
): Promise<DatabaseHandle> {
  return 'url' in target ? openPostgres(target.url, options) : openPglite(target)
}

function openPostgres(url: string, options: PostgresOptions): DatabaseHandle {
  const client = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // Timestamps arrive as Date through drizzle's own mapping; keep the driver's defaults otherwise.
    connection: { application_name: 'neoforge' },
  })
  prepareStatements(client)
  const db = drizzlePostgres(client, { schema }) as unknown as Database
  let observer: QueryObserver | undefined
  return {
    db,
    driver: 'postgres',
    rows: (query) => rowsOf(db, query),
    async withAdvisoryLock(key, fn, { wait = true } = {}) {
      const connection = await client.reserve()
      try {
        if (wait) {
          await connection`select pg_advisory_lock(${key.toString()}::bigint)`
        } else {
          const [row] = await connection`select pg_try_advisory_lock(${key.toString()}::bigint) as locked`
          if (!row?.locked) return undefined
        }
        try {
          return await fn()
        } finally {
          await connection`select pg_advisory_unlock(${key.toString()}::bigint)`
        }
      } finally {
        connection.release()
      }
    },
    async ping() {
      try {
        await client.unsafe('select 1')
        return true
      } catch {
        return false
      }
    },
    observeQueries(next) {
      if (!observer) observePostgres(client, (text) => observer?.(text))
      observer = next
    },
    async close() {
      await client.end({ timeout: 5 })
    },
  }
}

async function openPglite(target: {
  dataDir: string | null
  loadDataDir?: Blob | File
}): Promise<DatabaseHandle> {
  const releaseLock = target.dataDir ? lockDataDir(target.dataDir) : () => {}
  const client = new PGlite({
    extensions: { pg_trgm },
    ...(target.dataDir ? { dataDir: target.dataDir } : {}),
    ...(target.loadDataDir ? { loadDataDir: target.loadDataDir } : {}),
  })
  await client.waitReady
  const db = drizzlePglite(client, { schema }) as unknown as Database
  let observer: QueryObserver | undefined
  return {
    db,
    driver: 'pglite',
    rows: (query) => rowsOf(db, query),
    // PGlite is a single connection owned by this process, so the lock is uncontended; taking it
    // anyway keeps the code path identical to PostgreSQL's.
    async withAdvisoryLock(key, fn, { wait = true } = {}) {
      const fnName = wait ? 'pg_advisory_lock' : 'pg_try_advisory_lock'
      const result = await client.query<{ locked: boolean | string }>(
        `select ${fnName}($1::bigint)::text as locked`,
        [key.toString()],
      )
      if (!wait && result.rows[0]?.locked !== 'true') return undefined
      try {
        return await fn()
      } finally {
        await client.query('select pg_advisory_unlock($1::bigint)', [key.toString()])
      }
    },
    async ping() {
      try {
        await client.query('select 1')
        return true
      } catch {
        return false
      }
    },
    observeQueries(next) {
      if (!observer) observePglite(client, (text) => observer?.(text))
      observer = next
    },
    async close() {
      await client.close()
      releaseLock()
    },
    async dump() {
      return client.dumpDataDir('none')
    },
  }
}

/**
 * postgres-js: drizzle runs every statement through `unsafe` on the client, or on the scoped client
 * that `begin` and `savepoint` hand to their callback. Its queries are lazy thenables that start when
 * first awaited, so the query object is returned untouched and its settling is watched through
 * `Promise.prototype.then`, which (unlike the query's own `then`) does not start it.
 */
function observePostgres(sql: postgres.Sql, observe: QueryObserver): void {
  patchEveryScope(sql, (scope) => {
    const unsafe = scope.unsafe
    scope.unsafe = ((text: string, ...rest: unknown[]) => {
      const query = (unsafe as (text: string, ...rest: unknown[]) => Promise<unknown>)(text, ...rest)
      const done = observe(text)
      if (done)
        Promise.prototype.then.call(
          query,
          () => done(),
          (error: unknown) => done(error),
        )
      return query
    }) as typeof scope.unsafe
  })
}

/**
 * drizzle sends every query through `unsafe()` with `prepare: false` (unless built with
 * `.prepare(name)`), so PostgreSQL parses and plans each one anew and each costs two round trips.
 * Our queries are a fixed set of shapes with bound parameters: letting postgres-js name and cache
 * them per connection (its default for tagged templates) removes both costs.
 */
function prepareStatements(sql: postgres.Sql): void {
  patchEveryScope(sql, (scope) => {
    const unsafe = scope.unsafe as (
      text: string,
      args?: unknown,
      options?: Record<string, unknown>,
    ) => unknown
    scope.unsafe = ((text: string, args?: unknown, options?: Record<string, unknown>) =>
      Array.isArray(args) && args.length > 0
        ? unsafe(text, args, { ...options, prepare: true })
        : unsafe(text, args, options)) as typeof scope.unsafe
  })
}

/** Applies `patch` to `sql` and to every transaction-scoped `sql` that `begin`/`savepoint` hand out. */
function patchEveryScope(sql: postgres.Sql, patch: (scope: postgres.Sql) => void): void {
  patch(sql)
  for (const scope of ['begin', 'savepoint'] as const) {
    const open = (sql as unknown as Record<string, ((...args: unknown[]) => unknown) | undefined>)[scope]
    if (!open) continue
    ;(sql as unknown as Record<string, unknown>)[scope] = (...args: unknown[]) => {
      const fn = args.at(-1)
      if (typeof fn === 'function')
        args[args.length - 1] = (scoped: postgres.Sql) => {
          patchEveryScope(scoped, patch)
          return fn(scoped)
        }
      return open(...args)
    }
  }
}

/** PGlite: `query` and `exec` on the client, and on the transaction object `transaction` hands out. */
function observePglite(client: PGlite | PgliteTransaction, observe: QueryObserver): void {
  const wrap =
    <A extends unknown[], R>(run: (text: string, ...rest: A) => Promise<R>) =>
    async (text: string, ...rest: A): Promise<R> => {
      const done = observe(text)
      if (!done) return run(text, ...rest)
      try {
        const result = await run(text, ...rest)
        done()
        return result
      } catch (error) {
        done(error)
        throw error
      }
    }
  client.query = wrap(client.query.bind(client)) as typeof client.query
  client.exec = wrap(client.exec.bind(client)) as typeof client.exec
  if (client instanceof PGlite) {
    const transaction = client.transaction.bind(client)
    client.transaction = ((fn: (tx: PgliteTransaction) => Promise<unknown>) =>
      transaction((tx) => {
        observePglite(tx, observe)
        return fn(tx)
      })) as typeof client.transaction
  }
}

/**
 * The rows of raw SQL run on the database or inside a transaction: postgres-js answers `execute`
 * with an array, PGlite with `{ rows }`.
 */
export async function rowsOf<T extends Record<string, unknown>>(
  executor: Executor,
  query: SQL,
): Promise<T[]> {
  const result = (await executor.execute(query)) as unknown as T[] | { rows: T[] }
  return Array.isArray(result) ? result : result.rows
}

/** `count(*)` is a string from postgres-js and a number from PGlite; every count goes through here. */
export const countAll = sql<number>`count(*)`.mapWith(Number)

/**
 * PGlite has no server to arbitrate: a second process on the same data directory silently loses
 * writes. A pid file makes the second opener (a CLI next to a running server) fail loudly instead.
 */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true })
  const lockFile = join(dataDir, 'neoforge.pid')
  try {
    writeFileSync(lockFile, String(process.pid), { flag: 'wx' })
  } catch {
    const holder = Number(readFileSync(lockFile, 'utf8'))
    if (holder !== process.pid && isAlive(holder)) {
      throw new Error(
        `${dataDir} is in use by process ${holder}; stop it first, or point both at a server with DATABASE_URL`,
      )
    }
    writeFileSync(lockFile, String(process.pid))
  }
  return () => rmSync(lockFile, { force: true })
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
