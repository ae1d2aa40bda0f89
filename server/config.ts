import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Cron } from 'croner'
import type { DatabaseTarget } from '../db/client'
import { defaultPolicies, type RatePolicy, type RatePolicyName, ratePolicyNames } from './http/rate-limit'
import { type CleanupJobName, cleanupJobNames, defaultSchedules } from './jobs/cleanup'

/** Environment variables, read and validated once at start. Nothing else reads `process.env`. */
export interface Config {
  env: 'production' | 'development' | 'test'
  port: number
  host: string
  version: string
  database: DatabaseTarget
  dataDir: string
  appSecret: string
  accessTokenTtlSeconds: number
  sessionTtlDays: number
  corsOrigins: string[]
  trustProxy: number
  logLevel: LogLevel
  /** Origin of the public site, used for same-origin checks on cookie-authenticated writes. */
  publicOrigin: string | null
  community: { premoderation: boolean; reportThreshold: number }
  rateLimits: Record<RatePolicyName, RatePolicy>
  /** Rate-limit state goes to Redis when set, else to PostgreSQL. */
  redisUrl: string | null
  idempotencyTtlSeconds: number
  /** How long an instance keeps its copy of the service statuses behind the public status reads. */
  statusCacheMs: number
  /** Off in tests that drive the jobs by hand. */
  cronEnabled: boolean
  cronSchedules: Record<CleanupJobName, string>
  /** When set, `GET /metrics` needs `Authorization: Bearer <token>`. */
  metricsToken: string | null
  /** OpenTelemetry: spans go over OTLP/HTTP to `endpoint` when set; nothing is loaded when null. */
  otel: { endpoint: string | null; serviceName: string }
}

export const logLevels = ['debug', 'info', 'warn', 'error', 'silent'] as const
export type LogLevel = (typeof logLevels)[number]

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  }
}

type Env = Record<string, string | undefined>

export function loadConfig(env: Env): Config {
  const problems: string[] = []
  // A parser returns the value, or a sentence saying what the value must be.
  const read = <T>(
    name: string,
    fallback: T,
    parse: (raw: string) => { value: T } | { error: string },
  ): T => {
    const raw = env[name]?.trim()
    if (raw === undefined || raw === '') return fallback
    const parsed = parse(raw)
    if ('value' in parsed) return parsed.value
    problems.push(`${name}=${JSON.stringify(raw)}: ${parsed.error}`)
    return fallback
  }
  const integer =
    (min: number, max: number) =>
    (raw: string): { value: number } | { error: string } =>
      /^\d+$/.test(raw) && Number(raw) >= min && Number(raw) <= max
        ? { value: Number(raw) }
        : { error: `must be a whole number from ${min} to ${max}` }
  const boolean = (raw: string): { value: boolean } | { error: string } =>
    raw === 'true' || raw === '1'
      ? { value: true }
      : raw === 'false' || raw === '0'
        ? { value: false }
        : { error: 'must be true or false' }
  const oneOf =
    <T extends string>(values: readonly T[]) =>
    (raw: string): { value: T } | { error: string } =>
      (values as readonly string[]).includes(raw)
        ? { value: raw as T }
        : { error: `must be one of ${values.join(', ')}` }

  const nodeEnv = read<Config['env']>(
    'NODE_ENV',
    'development',
    oneOf(['production', 'development', 'test'] as const),
  )
  const production = nodeEnv === 'production'

  const port = read('PORT', 3000, integer(0, 65535))
  const host = env.HOST?.trim() || '0.0.0.0'
  const dataDir = resolve(env.DATA_DIR?.trim() || './data')
  const accessTokenTtlSeconds = read('ACCESS_TOKEN_TTL_SECONDS', 900, integer(30, 900))
  const sessionTtlDays = read('SESSION_TTL_DAYS', 30, integer(1, 365))
  const trustProxy = read('TRUST_PROXY', 0, integer(0, 32))

  const logLevel = read<LogLevel>('LOG_LEVEL', 'info', oneOf(logLevels))

  const corsOrigins = (env.CORS_ORIGINS ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean)
  for (const origin of corsOrigins) {
    if (!isOrigin(origin))
      problems.push(`CORS_ORIGINS: ${JSON.stringify(origin)} is not an origin like https://app.example.com`)
  }
  const publicOrigin = env.PUBLIC_ORIGIN?.trim() || null
  if (publicOrigin && !isOrigin(publicOrigin)) {
    problems.push(
      `PUBLIC_ORIGIN=${JSON.stringify(publicOrigin)}: must be an origin like https://neoforge.example.com`,
    )
  }

  const premoderation = read('COMMUNITY_PREMODERATION', false, boolean)
  const reportThreshold = read('COMMUNITY_REPORT_THRESHOLD', 3, integer(1, 1000))

  const rateLimits = Object.fromEntries(
    ratePolicyNames.map((name) => {
      const fallback = defaultPolicies[name]
      const parsed = read(`RATE_LIMIT_${name.toUpperCase()}`, fallback, (raw) => {
        const match = /^(\d+)\/(\d+)$/.exec(raw)
        const limit = Number(match?.[1])
        const windowSeconds = Number(match?.[2])
        return match && limit >= 1 && windowSeconds >= 1 && windowSeconds <= 86_400
          ? { value: { name, limit, windowSeconds } }
          : { error: 'must be <limit>/<window seconds>, e.g. 600/60 (window at most 86400)' }
      })
      return [name, parsed]
    }),
  ) as Record<RatePolicyName, RatePolicy>
  const redisUrl = env.REDIS_URL?.trim() || null
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl))
    problems.push('REDIS_URL: must start with redis:// or rediss://')
  const idempotencyTtlSeconds = read('IDEMPOTENCY_TTL_SECONDS', 86_400, integer(60, 30 * 86_400))
  // At most the 15 s the status responses already let any cache keep them (CONTRACT §4).
  const statusCacheMs = read('STATUS_CACHE_MS', 1000, integer(0, 15_000))
  const cronEnabled = read('CRON_ENABLED', true, boolean)
  const cronSchedules = Object.fromEntries(
    cleanupJobNames.map((job) => [
      job,
      read(`CRON_${job.toUpperCase().replaceAll('-', '_')}`, defaultSchedules[job], (raw) => {
        try {
          new Cron(raw, { paused: true }).stop()
          return { value: raw }
        } catch {
          return { error: 'must be a cron pattern, e.g. "0 * * * *" (5 fields, or 6 with seconds)' }
        }
      }),
    ]),
  ) as Record<CleanupJobName, string>

  const metricsToken = env.METRICS_TOKEN?.trim() || null
  if (metricsToken && metricsToken.length < 16) problems.push('METRICS_TOKEN: must be at least 16 characters')

  const otelEndpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || null
  if (otelEndpoint && !isHttpUrl(otelEndpoint))
    problems.push(
      'OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:// or https:// URL, e.g. http://collector:4318',
    )
  const otelServiceName = env.OTEL_SERVICE_NAME?.trim() || 'neoforge'

  const databaseUrl = env.DATABASE_URL?.trim()
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL: must start with postgres:// or postgresql://')
  }
  if (production && !databaseUrl) problems.push('DATABASE_URL: required when NODE_ENV=production')

  let appSecret = env.APP_SECRET ?? ''
  if (appSecret && appSecret.length < 32) {
    problems.push('APP_SECRET: must be at least 32 characters')
  } else if (!appSecret && production) {
    problems.push('APP_SECRET: required when NODE_ENV=production (at least 32 characters)')
  }

  if (problems.length > 0) throw new ConfigError(problems)
  if (!appSecret) appSecret = devSecret(dataDir)

  return {
    env: nodeEnv,
    port,
    host,
    version: packageVersion(),
    database: databaseUrl ? { url: databaseUrl } : { dataDir: join(dataDir, 'pglite') },
    dataDir,
    appSecret,
    accessTokenTtlSeconds,
    sessionTtlDays,
    corsOrigins,
    trustProxy,
    logLevel,
    publicOrigin,
    community: { premoderation, reportThreshold },
    rateLimits,
    redisUrl,
    idempotencyTtlSeconds,
    statusCacheMs,
    cronEnabled,
    cronSchedules,
    metricsToken,
    otel: { endpoint: otelEndpoint, serviceName: otelServiceName },
  }
}

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value
  } catch {
    return false
  }
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

/** Outside production a secret is generated once and kept, so tokens survive restarts. */
function devSecret(dataDir: string): string {
  const file = join(dataDir, 'dev-secret')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(dataDir, { recursive: true })
  const secret = randomBytes(32).toString('base64url')
  writeFileSync(file, secret, { mode: 0o600 })
  return secret
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}
