import { parseArgs } from 'node:util'
import { openDatabase } from '../../db/client'
import { migrate } from '../../db/migrate'
import { type Role, roles } from '../../db/schema'
import { ConfigError, loadConfig } from '../config'
import { createUser } from '../features/users/service'
import { HttpError } from '../http/problem'

/** `bun run user:create --email E --password P --role user|staff|admin [--name N]` (CONTRACT §10). */
const usage =
  'usage: bun run user:create --email E --password P [--role user|staff|admin] [--name "Full Name"]'

function fail(message: string): never {
  console.error(`user:create: ${message}`)
  process.exit(1)
}

const { values } = parseArgs({
  options: {
    email: { type: 'string' },
    password: { type: 'string' },
    role: { type: 'string', default: 'user' },
    name: { type: 'string' },
  },
  strict: true,
}).valueOf() as { values: { email?: string; password?: string; role: string; name?: string } }

if (!values.email || !values.password) fail(`--email and --password are required\n${usage}`)
if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(values.email)) fail(`${values.email} is not an email address`)
if (values.password.length < 10) fail('the password must be at least 10 characters')
if (!(roles as readonly string[]).includes(values.role)) fail(`--role must be one of ${roles.join(', ')}`)

let config: ReturnType<typeof loadConfig>
try {
  config = loadConfig(process.env)
} catch (error) {
  fail(error instanceof ConfigError ? error.message : String(error))
}

const database = await openDatabase(config.database)
try {
  await migrate(database)
  const user = await createUser(database.db, {
    email: values.email,
    password: values.password,
    role: values.role as Role,
    fullName: values.name ?? null,
  })
  console.log(`created ${user.role} ${user.email} (${user.id})`)
} catch (error) {
  if (error instanceof HttpError && error.status === 409)
    fail(`an account with the email ${values.email} already exists`)
  throw error
} finally {
  await database.close()
}
