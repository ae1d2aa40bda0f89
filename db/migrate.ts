import { fileURLToPath } from 'node:url'
import type { PgliteDatabase } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import type { DatabaseHandle } from './client'

export const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url))

/** Arbitrary but fixed: every instance contends for the same lock while migrating. */
export const MIGRATION_LOCK_KEY = 0x6e656f666f726765n // "neoforge"

/** Applies the committed drizzle-kit migrations; concurrent starters wait for the first one. */
export async function migrate(database: DatabaseHandle): Promise<void> {
  await database.withAdvisoryLock(MIGRATION_LOCK_KEY, async () => {
    if (database.driver === 'postgres') {
      await migratePostgres(database.db as unknown as PostgresJsDatabase, { migrationsFolder })
    } else {
      await migratePglite(database.db as unknown as PgliteDatabase, { migrationsFolder })
    }
  })
}

if (import.meta.main) {
  const { loadConfig } = await import('../server/config')
  const { openDatabase } = await import('./client')
  const config = loadConfig(process.env)
  const database = await openDatabase(config.database)
  await migrate(database)
  await database.close()
  console.log(JSON.stringify({ level: 'info', msg: 'migrations applied', driver: database.driver }))
}
