import { type SQL, sql } from 'drizzle-orm'
import type { AnyPgColumn } from 'drizzle-orm/pg-core'

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
