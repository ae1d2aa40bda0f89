import { eq, type SQL, sql } from 'drizzle-orm'
import type { AnyPgColumn, PgDialect, PgSession } from 'drizzle-orm/pg-core'
import type { Executor } from './client'
import { listCounts } from './schema'

/**
 * Case-insensitive substring match that is safe for any text: `%`, `_` and `\` in the search are
 * escaped so they match themselves, and the value is a bound parameter, never spliced into SQL.
 * `lower(column)` matches the trigram indexes of the schema.
 */
export function containsText(column: AnyPgColumn, text: string): SQL {
  const escaped = text.toLowerCase().replace(/[\\%_]/g, (char) => `\\${char}`)
  return sql`lower(${column}) like ${`%${escaped}%`} escape '\\'`
}

/** `version + 1` and `updated_at = now()`: what every update of a versioned row sets. */
export function bumpVersion(table: { version: AnyPgColumn }) {
  return { version: sql`${table.version} + 1`, updatedAt: sql`now()` }
}

/**
 * A query built once per database handle and reused with new placeholder values: drizzle then
 * skips building the SQL text on every call (measurably the largest cost of a hot read) and the
 * driver reuses its prepared statement. Transactions get their own, built on first use.
 */
const preparedQueries = new WeakMap<object, Map<string, unknown>>()

export function prepared<P>(db: object, name: string, build: () => P): P {
  let queries = preparedQueries.get(db)
  if (!queries) {
    queries = new Map()
    preparedQueries.set(db, queries)
  }
  let query = queries.get(name) as P | undefined
  if (query === undefined) {
    query = build()
    queries.set(name, query)
  }
  return query
}

/** The exact total of a counted list scope (`countScopes`): a sum over at most 64 slot rows. */
export async function countedTotal(db: Executor, scope: string): Promise<number> {
  const query = prepared(db, 'list_count', () =>
    db
      .select({ total: sql<number>`coalesce(sum(${listCounts.n}), 0)`.mapWith(Number) })
      .from(listCounts)
      .where(eq(listCounts.scope, sql.placeholder('scope')))
      .prepare('list_count'),
  )
  const [row] = await query.execute({ scope })
  return row?.total ?? 0
}

/**
 * Raw SQL with `sql.placeholder`s, built and prepared once per database handle as `prepared`
 * does for drizzle's builders: for the statements those cannot express (a data-modifying WITH).
 */
export function preparedSql<Row extends Record<string, unknown>>(
  db: Executor,
  name: string,
  build: () => SQL,
) {
  return prepared(db, name, () => {
    // drizzle's own `execute` does the same, without the name and so without the reuse.
    const { dialect, session } = db as unknown as { dialect: PgDialect; session: PgSession }
    const query = session.prepareQuery(dialect.sqlToQuery(build()), undefined, name, false)
    return {
      async execute(values: Record<string, unknown>): Promise<Row[]> {
        const result = (await query.execute(values)) as Row[] | { rows: Row[] }
        return Array.isArray(result) ? result : result.rows
      },
    }
  })
}

/** The SQLSTATE of a failed statement, through drizzle's wrapping (`cause`) when there is one. */
export function sqlStateOf(error: unknown): string | undefined {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    const code = (cause as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
  }
  return undefined
}
