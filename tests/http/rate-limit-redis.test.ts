import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type App, createApp } from '../../server/app'
import { createLogger } from '../../server/log'
import { TEST_ORIGIN, testConfig } from '../support/app'
import { createTestDatabase, type TestDatabase } from '../support/databases'

/**
 * CONTRACT §6 with REDIS_URL: two app instances (each on its own database, sharing only Redis)
 * together allow `limit` requests per window. Runs when TEST_REDIS_URL names a Redis server.
 */
const redisUrl = process.env.TEST_REDIS_URL

if (redisUrl) {
  describe('rate limits shared through Redis', () => {
    const databases: TestDatabase[] = []
    const apps: App[] = []
    beforeAll(async () => {
      const env = {
        REDIS_URL: redisUrl,
        // A policy window of a day, keyed by a fresh address per run, so runs never share counters.
        RATE_LIMIT_API: '7/86400',
        TRUST_PROXY: '1',
      }
      for (let i = 0; i < 2; i++) {
        const database = await createTestDatabase('pglite')
        databases.push(database)
        apps.push(
          createApp({ database: database.handle, config: testConfig(env), logger: createLogger('silent') }),
        )
      }
    }, 60_000)
    afterAll(async () => {
      for (const app of apps) await app.stop().catch(() => {})
      for (const database of databases) await database.drop()
    })

    test('two instances together allow the limit, not twice it', async () => {
      const ip = `198.18.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`
      const statuses: number[] = []
      for (let i = 0; i < 12; i++) {
        const app = apps[i % 2] as App
        const res = await app.handle(
          new Request(`${TEST_ORIGIN}/api/v1/status`, { headers: { 'x-forwarded-for': ip } }),
        )
        statuses.push(res.status)
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(7)
      expect(statuses.filter((s) => s === 429)).toHaveLength(5)
    })
  })
}
