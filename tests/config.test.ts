import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../server/config'

const SECRET = 'x'.repeat(32)
const scratch = mkdtempSync(join(tmpdir(), 'neoforge-config-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** The problems loadConfig reports for `env`, or [] when it accepts it. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ DATA_DIR: scratch, APP_SECRET: SECRET, ...env })
    return []
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return error.problems
  }
}

const rejects = (env: Record<string, string>, variable: string) => {
  const problems = problemsOf(env)
  expect(problems.length).toBeGreaterThan(0)
  expect(problems.join('\n')).toContain(variable)
}

describe('§10 configuration from the environment', () => {
  test('defaults: port 3000, 15-minute access tokens, no CORS origins, no trusted proxies', () => {
    const config = loadConfig({ NODE_ENV: 'test', APP_SECRET: SECRET, DATA_DIR: scratch })
    expect(config).toMatchObject({
      env: 'test',
      port: 3000,
      accessTokenTtlSeconds: 900,
      corsOrigins: [],
      trustProxy: 0,
      logLevel: 'info',
      publicOrigin: null,
      appSecret: SECRET,
      dataDir: scratch,
    })
    // Embedded PostgreSQL under DATA_DIR unless DATABASE_URL names a server.
    expect(config.database).toEqual({ dataDir: join(scratch, 'pglite') })
  })

  test('NODE_ENV defaults to development and must be production, development or test', () => {
    expect(loadConfig({ APP_SECRET: SECRET, DATA_DIR: scratch }).env).toBe('development')
    rejects({ NODE_ENV: 'staging' }, 'NODE_ENV')
  })

  test('§7 access tokens live at most 15 minutes: ACCESS_TOKEN_TTL_SECONDS above 900 is refused', () => {
    expect(
      loadConfig({ APP_SECRET: SECRET, DATA_DIR: scratch, ACCESS_TOKEN_TTL_SECONDS: '900' }),
    ).toMatchObject({
      accessTokenTtlSeconds: 900,
    })
    expect(
      loadConfig({ APP_SECRET: SECRET, DATA_DIR: scratch, ACCESS_TOKEN_TTL_SECONDS: '60' }),
    ).toMatchObject({
      accessTokenTtlSeconds: 60,
    })
    rejects({ ACCESS_TOKEN_TTL_SECONDS: '901' }, 'ACCESS_TOKEN_TTL_SECONDS')
    rejects({ ACCESS_TOKEN_TTL_SECONDS: '0' }, 'ACCESS_TOKEN_TTL_SECONDS')
    rejects({ ACCESS_TOKEN_TTL_SECONDS: '15m' }, 'ACCESS_TOKEN_TTL_SECONDS')
  })

  test('PORT must be a whole number from 0 to 65535', () => {
    expect(loadConfig({ APP_SECRET: SECRET, DATA_DIR: scratch, PORT: '8080' }).port).toBe(8080)
    rejects({ PORT: 'abc' }, 'PORT')
    rejects({ PORT: '65536' }, 'PORT')
    rejects({ PORT: '-1' }, 'PORT')
    rejects({ PORT: '80.5' }, 'PORT')
  })

  test('§1 CORS_ORIGINS is a comma-separated list of origins', () => {
    const config = loadConfig({
      APP_SECRET: SECRET,
      DATA_DIR: scratch,
      CORS_ORIGINS: ' https://app.example.com , http://localhost:5173,',
    })
    expect(config.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173'])
    rejects({ CORS_ORIGINS: 'app.example.com' }, 'CORS_ORIGINS')
    rejects({ CORS_ORIGINS: 'https://app.example.com/path' }, 'CORS_ORIGINS')
    rejects({ CORS_ORIGINS: 'ftp://files.example.com' }, 'CORS_ORIGINS')
  })

  test('§6 TRUST_PROXY is a non-negative whole number (default 0)', () => {
    expect(loadConfig({ APP_SECRET: SECRET, DATA_DIR: scratch, TRUST_PROXY: '2' }).trustProxy).toBe(2)
    rejects({ TRUST_PROXY: '-1' }, 'TRUST_PROXY')
    rejects({ TRUST_PROXY: 'yes' }, 'TRUST_PROXY')
  })

  test('§4 STATUS_CACHE_MS is 0 to 15000 (the 15 s the status responses allow), default 1000', () => {
    const base = { APP_SECRET: SECRET, DATA_DIR: scratch }
    expect(loadConfig(base).statusCacheMs).toBe(1000)
    expect(loadConfig({ ...base, STATUS_CACHE_MS: '0' }).statusCacheMs).toBe(0)
    expect(loadConfig({ ...base, STATUS_CACHE_MS: '15000' }).statusCacheMs).toBe(15_000)
    rejects({ STATUS_CACHE_MS: '15001' }, 'STATUS_CACHE_MS')
    rejects({ STATUS_CACHE_MS: '-1' }, 'STATUS_CACHE_MS')
    rejects({ STATUS_CACHE_MS: '1s' }, 'STATUS_CACHE_MS')
  })

  test('LOG_LEVEL and PUBLIC_ORIGIN are validated', () => {
    rejects({ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL')
    rejects({ PUBLIC_ORIGIN: 'neoforge.example.com' }, 'PUBLIC_ORIGIN')
    expect(
      loadConfig({ APP_SECRET: SECRET, DATA_DIR: scratch, PUBLIC_ORIGIN: 'https://neoforge.example.com' })
        .publicOrigin,
    ).toBe('https://neoforge.example.com')
  })

  test('DATABASE_URL must be a postgres:// URL and then names the database', () => {
    rejects({ DATABASE_URL: 'mysql://db/app' }, 'DATABASE_URL')
    const config = loadConfig({ APP_SECRET: SECRET, DATA_DIR: scratch, DATABASE_URL: 'postgres://db/app' })
    expect(config.database).toEqual({ url: 'postgres://db/app' })
  })

  test('§10 production refuses to start without APP_SECRET and DATABASE_URL, naming both', () => {
    let thrown: unknown
    try {
      loadConfig({ NODE_ENV: 'production', DATA_DIR: scratch })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(ConfigError)
    const problems = (thrown as ConfigError).problems
    expect(problems.some((p) => p.startsWith('APP_SECRET'))).toBe(true)
    expect(problems.some((p) => p.startsWith('DATABASE_URL'))).toBe(true)
    // The message lists every problem, one per line.
    for (const problem of problems) expect((thrown as Error).message).toContain(problem)
  })

  test('§10 APP_SECRET shorter than 32 characters is refused, in any environment', () => {
    rejects({ APP_SECRET: 'x'.repeat(31) }, 'APP_SECRET')
    rejects({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/app', APP_SECRET: 'short' }, 'APP_SECRET')
    expect(
      problemsOf({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/app', APP_SECRET: 'y'.repeat(32) }),
    ).toEqual([])
  })

  test('every bad value is reported at once, each with its variable', () => {
    const problems = problemsOf({ PORT: 'x', TRUST_PROXY: 'y', LOG_LEVEL: 'z' })
    expect(problems).toHaveLength(3)
    expect(problems.map((p) => p.split(/[=:]/)[0]).sort()).toEqual(['LOG_LEVEL', 'PORT', 'TRUST_PROXY'])
  })

  test('§10 outside production a dev secret is generated once under DATA_DIR and kept', () => {
    const dataDir = join(scratch, 'dev')
    const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir })
    const second = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir })
    expect(first.appSecret.length).toBeGreaterThanOrEqual(32)
    expect(second.appSecret).toBe(first.appSecret)
    const file = join(dataDir, 'dev-secret')
    expect(readFileSync(file, 'utf8').trim()).toBe(first.appSecret)
    expect(statSync(file).mode & 0o077).toBe(0)
    const elsewhere = loadConfig({ NODE_ENV: 'development', DATA_DIR: join(scratch, 'other') })
    expect(elsewhere.appSecret).not.toBe(first.appSecret)
  })
})
