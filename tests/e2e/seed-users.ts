import { openDatabase } from '../../db/client'
import { migrate } from '../../db/migrate'
import type { Role } from '../../db/schema'
import { loadConfig } from '../../server/config'
import { createUser } from '../../server/features/users/service'

/**
 * Creates the e2e suite's accounts before the server starts, like `bun run user:create` (which
 * makes one account per process) but in one process: PGlite allows one process per data directory,
 * so this runs and exits before `bun server/index.ts` opens the same DATA_DIR (or DATABASE_URL).
 *
 * usage: bun tests/e2e/seed-users.ts '[{"email":…,"password":…,"role":…,"fullName":…}]'
 */
interface Account {
  email: string
  password: string
  role: Role
  fullName: string
}

const accounts = JSON.parse(process.argv[2] ?? '[]') as Account[]
const config = loadConfig(process.env)
const database = await openDatabase(config.database)
try {
  await migrate(database)
  for (const account of accounts) {
    const user = await createUser(database.db, account)
    console.log(`created ${user.role} ${user.email} ${user.id}`)
  }
} finally {
  await database.close()
}
