import { afterAll, beforeAll, describe } from 'bun:test'
import { type App, createApp } from '../../server/app'
import { type Config, loadConfig } from '../../server/config'
import { createLogger } from '../../server/log'
import { createTestDatabase, type DatabaseKind, databaseKinds, type TestDatabase } from './databases'

/** PGlite needs seconds to start; the first file of a process also builds the template. */
const SETUP_TIMEOUT_MS = 60_000

export const TEST_ORIGIN = 'http://neoforge.test'

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    APP_SECRET: 'test-secret-that-is-at-least-32-characters-long',
    DATA_DIR: '/tmp/neoforge-test-unused',
    LOG_LEVEL: 'info',
    // Suites sign in many times from one address: only the rate-limit suite sets real limits.
    RATE_LIMIT_LOGIN: '100000/60',
    RATE_LIMIT_REGISTER: '100000/60',
    RATE_LIMIT_API: '100000/60',
    // Jobs are driven by hand (`app.jobs.run`) where a test needs them.
    CRON_ENABLED: 'false',
    ...env,
  })
}

export interface Harness {
  kind: DatabaseKind
  app: App
  database: TestDatabase
  /** Every log line the app wrote, to prove what never reaches the log. */
  logLines: string[]
  request(path: string, init?: RequestInit): Promise<Response>
  /** JSON request helper: `body` is sent as JSON, `token` as a bearer credential. */
  call(
    method: string,
    path: string,
    options?: { body?: unknown; token?: string; headers?: Record<string, string> },
  ): Promise<TestResponse>
}

export interface TestResponse {
  status: number
  headers: Headers
  body: any
  text: string
}

/**
 * Runs a suite once per database kind, against a real app on a real, freshly migrated database
 * shared by the suite's tests. Test names say which database they ran on.
 */
export function describeEachDatabase(
  name: string,
  suite: (h: () => Harness, kind: DatabaseKind) => void,
  options: { env?: Record<string, string> } = {},
): void {
  for (const kind of databaseKinds) {
    describe(`${name} [${kind}]`, () => {
      let harness: Harness | undefined
      beforeAll(async () => {
        const database = await createTestDatabase(kind)
        const logLines: string[] = []
        const config = testConfig(options.env)
        const app = createApp({
          database: database.handle,
          config,
          logger: createLogger('debug', (line) => logLines.push(line)),
        })
        const request = (path: string, init?: RequestInit) =>
          app.handle(new Request(TEST_ORIGIN + path, init))
        harness = {
          kind,
          app,
          database,
          logLines,
          request,
          async call(method, path, { body, token, headers = {} } = {}) {
            const response = await request(path, {
              method,
              headers: {
                ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
                ...(token ? { authorization: `Bearer ${token}` } : {}),
                ...headers,
              },
              ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
            })
            const text = await response.text()
            let parsed: unknown = null
            try {
              parsed = text ? JSON.parse(text) : null
            } catch {
              parsed = null
            }
            return { status: response.status, headers: response.headers, body: parsed, text }
          },
        }
      }, SETUP_TIMEOUT_MS)
      afterAll(async () => {
        await harness?.database.drop()
      }, SETUP_TIMEOUT_MS)
      suite(() => {
        if (!harness) throw new Error('the harness is not ready')
        return harness
      }, kind)
    })
  }
}
