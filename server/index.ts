import { openDatabase } from '../db/client'
import { migrate } from '../db/migrate'
import { createApp } from './app'
import { ConfigError, loadConfig } from './config'
import { createLogger, errorFields } from './log'

/** Entry: config -> database -> migrations -> app -> listen; SIGTERM drains and exits 0. */
const SHUTDOWN_GRACE_MS = 10_000

let config: ReturnType<typeof loadConfig>
try {
  config = loadConfig(process.env)
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message)
    process.exit(78) // EX_CONFIG
  }
  throw error
}

const logger = createLogger(config.logLevel)
const startedAt = performance.now()
const database = await openDatabase(config.database)
await migrate(database)
const app = createApp({ database, config, logger })
app.listen({ port: config.port, hostname: config.host, reusePort: true })

logger.info('listening', {
  url: `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${app.server?.port}`,
  driver: database.driver,
  version: config.version,
  env: config.env,
  startup_ms: Math.round(performance.now() - startedAt),
})

let stopping = false
async function shutdown(signal: string) {
  if (stopping) return
  stopping = true
  logger.info('shutting down', { signal })
  const forced = setTimeout(() => {
    logger.warn('in-flight requests did not finish in time; closing anyway')
    app.server?.stop(true)
  }, SHUTDOWN_GRACE_MS)
  try {
    // Stops accepting at once and resolves when in-flight requests have been answered.
    await app.server?.stop(false)
    clearTimeout(forced)
    await app.tracing?.shutdown()
    await database.close()
    logger.info('stopped')
    process.exit(0)
  } catch (error) {
    logger.error('shutdown failed', errorFields(error))
    process.exit(1)
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
