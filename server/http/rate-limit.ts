import { RedisClient } from 'bun'
import { sql } from 'drizzle-orm'
import { Elysia } from 'elysia'
import type { DatabaseHandle } from '../../db/client'
import { clientIpOf } from './client-ip'
import type { MetricsRegistry } from './metrics'
import { HttpError } from './problem'
import { pathOf } from './request-id'

/**
 * CONTRACT §6: fixed windows aligned to the epoch, counted in a store every instance shares
 * (PostgreSQL, or Redis when REDIS_URL is set), so N instances together allow `limit` per window.
 * It runs at request start, before parsing and validation, so every request counts, failed
 * logins and invalid bodies included, and a refused request costs no further work.
 */
export const ratePolicyNames = ['login', 'register', 'api'] as const
export type RatePolicyName = (typeof ratePolicyNames)[number]

export interface RatePolicy {
  name: RatePolicyName
  limit: number
  windowSeconds: number
}

export interface RateLimitStore {
  /**
   * Adds `by` requests to `bucket`'s window starting at `windowStart` (epoch s) and returns the
   * count after the addition: this caller now owns the positions `count - by + 1 .. count`.
   */
  hit(bucket: string, windowStart: number, windowSeconds: number, by: number): Promise<number>
  /** Drops windows that have ended (the cron job calls this). */
  prune(): Promise<number>
  close(): Promise<void>
}

export function postgresRateLimitStore(database: DatabaseHandle): RateLimitStore {
  return {
    async hit(bucket, windowStart, windowSeconds, by) {
      const [row] = await database.rows<{ count: number | string }>(sql`
        insert into rate_limit_counters (bucket, window_start, count, expires_at)
        values (${bucket}, to_timestamp(${windowStart}), ${by}, to_timestamp(${windowStart + windowSeconds}))
        on conflict (bucket, window_start) do update set count = rate_limit_counters.count + excluded.count
        returning count`)
      return Number(row?.count ?? by)
    },
    async prune() {
      const rows = await database.rows(
        sql`delete from rate_limit_counters where expires_at < now() returning 1`,
      )
      return rows.length
    },
    async close() {},
  }
}

export function redisRateLimitStore(url: string): RateLimitStore {
  const client = new RedisClient(url)
  // INCR and the first EXPIRE in one atomic step, so a crash cannot leave a counter without expiry.
  const script =
    "local c = redis.call('INCR', KEYS[1]) if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return c"
  return {
    async hit(bucket, windowStart, windowSeconds) {
      const count = await client.send('EVAL', [
        script,
        '1',
        `neoforge:rl:${bucket}:${windowStart}`,
        String(windowSeconds + 5),
      ])
      return Number(count)
    },
    // Redis expires windows by itself.
    async prune() {
      return 0
    },
    async close() {
      client.close()
    },
  }
}

export interface RateLimitOptions {
  policies: Record<RatePolicyName, RatePolicy>
  store: RateLimitStore
  registry: MetricsRegistry
  /** The principal a bearer token claims, without a database read. */
  claimedUserId: (bearer: string) => string | null
  now?: () => number
}

const API_PREFIX = '/api/v1/'

/** Which policy a request falls under, by method and path; null for unlimited routes. */
export function policyFor(method: string, path: string): RatePolicyName | null {
  if (!path.startsWith(API_PREFIX)) return null
  if (method === 'POST' && path === '/api/v1/auth/token') return 'login'
  if (method === 'POST' && path === '/api/v1/auth/register') return 'register'
  if (method === 'OPTIONS') return null
  return 'api'
}

export const rateLimit = (options: RateLimitOptions) => {
  const violations = options.registry.counter(
    'rate_limit_violations_total',
    'Requests refused with 429, by policy.',
    ['policy'],
  )
  const now = options.now ?? (() => Date.now() / 1000)

  function bucketFor(policy: RatePolicyName, request: Request): string {
    if (policy === 'api') {
      const authorization = request.headers.get('authorization')
      const bearer = authorization?.match(/^Bearer\s+(\S+)/i)?.[1]
      const userId = bearer ? options.claimedUserId(bearer) : null
      if (userId) return `api:user:${userId}`
    }
    return `${policy}:ip:${clientIpOf(request)}`
  }

  const leases = new QuotaLeases(options.store)
  // What every response of a policy says the same way, built once.
  const fixedHeaders = Object.fromEntries(
    ratePolicyNames.map((name) => {
      const { limit, windowSeconds } = options.policies[name]
      return [name, { limit: String(limit), policy: `"${name}";q=${limit};w=${windowSeconds}` }]
    }),
  ) as Record<RatePolicyName, { limit: string; policy: string }>

  return new Elysia({ name: 'rate-limit' })
    .onRequest(async ({ request, set }) => {
      const name = policyFor(request.method, pathOf(request.url))
      if (!name) return
      const policy = options.policies[name]
      const at = now()
      const windowStart = Math.floor(at / policy.windowSeconds) * policy.windowSeconds
      const resetAt = windowStart + policy.windowSeconds
      const taken = leases.take(bucketFor(name, request), windowStart, policy)
      const count = typeof taken === 'number' ? taken : await taken
      const remaining = Math.max(0, policy.limit - count)
      const secondsToReset = Math.max(0, Math.ceil(resetAt - at))
      set.headers['x-ratelimit-limit'] = fixedHeaders[name].limit
      set.headers['x-ratelimit-remaining'] = String(remaining)
      set.headers['x-ratelimit-reset'] = String(resetAt)
      set.headers['ratelimit-policy'] = fixedHeaders[name].policy
      set.headers.ratelimit = `"${name}";r=${remaining};t=${secondsToReset}`
      if (count > policy.limit) {
        violations.inc({ policy: name })
        throw new HttpError(
          429,
          'rate_limited',
          `Too many requests for the ${name} policy (${policy.limit} per ${policy.windowSeconds} s); retry in ${secondsToReset} s.`,
          { headers: { 'retry-after': String(Math.max(1, secondsToReset)) } },
        )
      }
    })
    .as('global')
}

/**
 * Positions in a window are taken from the shared store in blocks, so that a busy client costs one
 * store write per block rather than one per request (on PostgreSQL every write to a client's
 * counter row queues on that row's lock). Small limits use blocks of 1 and stay exact across
 * instances; large ones use blocks of limit/100 (at most 1,000), so an instance may hold up to 1%
 * of a window unused when it ends, refusing early rather than ever admitting more than `limit`.
 */
export class QuotaLeases {
  /** Per window length, the leases of the current window only: older windows are dropped whole. */
  private readonly windows = new Map<number, { start: number; leases: Map<string, Lease> }>()

  constructor(private readonly store: RateLimitStore) {}

  static blockSize(limit: number): number {
    return Math.max(1, Math.min(1000, Math.floor(limit / 100)))
  }

  /**
   * This request's position in its window (1-based); above `limit` means refused. A position
   * already leased is handed out at once, without a promise: the common case of a busy client.
   */
  take(bucket: string, windowStart: number, policy: RatePolicy): number | Promise<number> {
    const block = QuotaLeases.blockSize(policy.limit)
    if (block === 1) return this.store.hit(bucket, windowStart, policy.windowSeconds, 1)
    let window = this.windows.get(policy.windowSeconds)
    if (!window || window.start < windowStart) {
      window = { start: windowStart, leases: new Map() }
      this.windows.set(policy.windowSeconds, window)
    }
    let lease = window.leases.get(bucket)
    if (!lease) {
      lease = { next: 1, end: 0 }
      window.leases.set(bucket, lease)
    }
    if (lease.next <= lease.end) return lease.next++
    return this.takeAfterRefill(lease, bucket, windowStart, policy.windowSeconds, block)
  }

  private async takeAfterRefill(
    lease: Lease,
    bucket: string,
    windowStart: number,
    windowSeconds: number,
    block: number,
  ): Promise<number> {
    for (;;) {
      if (lease.next <= lease.end) return lease.next++
      if (!lease.refill) lease.refill = this.refill(lease, bucket, windowStart, windowSeconds, block)
      await lease.refill
    }
  }

  private async refill(
    lease: Lease,
    bucket: string,
    windowStart: number,
    windowSeconds: number,
    block: number,
  ) {
    try {
      const end = await this.store.hit(bucket, windowStart, windowSeconds, block)
      lease.next = end - block + 1
      lease.end = end
    } finally {
      lease.refill = undefined
    }
  }
}

interface Lease {
  next: number
  end: number
  refill?: Promise<void>
}

/** `RATE_LIMIT_<POLICY>=<limit>/<window seconds>` values, parsed by config.ts. */
export const defaultPolicies: Record<RatePolicyName, RatePolicy> = {
  login: { name: 'login', limit: 10, windowSeconds: 60 },
  register: { name: 'register', limit: 5, windowSeconds: 3600 },
  api: { name: 'api', limit: 600, windowSeconds: 60 },
}
