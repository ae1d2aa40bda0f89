import { beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { countAll } from '../../db/client'
import { serviceStatuses, services, statusEvents } from '../../db/schema'
import { createApp } from '../../server/app'
import { STATUS_SEVERITY, worstStatus } from '../../server/features/status/service'
import { createLogger } from '../../server/log'
import { describeEachDatabase, type Harness, TEST_ORIGIN, testConfig } from '../support/app'
import { eventually } from '../support/eventually'
import { createCallers } from '../support/users'

const PUBLIC_CACHE = 'public, max-age=15, stale-while-revalidate=30'

describe('status severity', () => {
  test('the order is major_outage > partial_outage > degraded > maintenance > operational', () => {
    expect([...STATUS_SEVERITY]).toEqual([
      'major_outage',
      'partial_outage',
      'degraded',
      'maintenance',
      'operational',
    ])
    expect([...STATUS_SEVERITY].sort()).toEqual([...serviceStatuses].sort())
  })

  test('the overall status is the worst one, operational when there are none', () => {
    expect(worstStatus([])).toBe('operational')
    expect(worstStatus(['operational', 'maintenance'])).toBe('maintenance')
    expect(worstStatus(['degraded', 'maintenance', 'operational'])).toBe('degraded')
    expect(worstStatus(['degraded', 'major_outage', 'partial_outage'])).toBe('major_outage')
    expect(worstStatus(['partial_outage', 'degraded'])).toBe('partial_outage')
  })
})

const counts = async (h: Harness) => {
  const db = h.database.handle.db
  const [[events], [current]] = await Promise.all([
    db.select({ n: countAll }).from(statusEvents),
    db.select({ n: countAll }).from(services),
  ])
  return { events: events?.n, services: current?.n }
}

describeEachDatabase('status', (h) => {
  let callers: Awaited<ReturnType<typeof createCallers>>
  beforeAll(async () => {
    callers = await createCallers(h())
  }, 30_000)

  const post = async (service: string, status: string, description?: string) => {
    const res = await h().call('POST', '/api/v1/status/events', {
      token: callers.staff.token,
      body: { service, status, ...(description !== undefined ? { description } : {}) },
    })
    expect(res.status).toBe(201)
    return res.body
  }
  const summary = async () => {
    const res = await h().call('GET', '/api/v1/status')
    expect(res.status).toBe(200)
    return res.body
  }

  test('GET /status with no services is operational, updated_at null, no services, no reasons', async () => {
    const res = await h().call('GET', '/api/v1/status')
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe(PUBLIC_CACHE)
    expect(res.body).toEqual({ status: 'operational', updated_at: null, services: [], reasons: [] })
  })

  test('POST /status/events needs staff: 401 anonymous, 403 user; nothing written', async () => {
    const body = { service: 'api', status: 'degraded' }
    const anonymous = await h().call('POST', '/api/v1/status/events', { body })
    expect(anonymous.status).toBe(401)
    const user = await h().call('POST', '/api/v1/status/events', { body, token: callers.user.token })
    expect(user.status).toBe(403)
    expect(user.body.code).toBe('forbidden')
    expect(await counts(h())).toEqual({ events: 0, services: 0 })
  })

  test('a bad slug, status, description or unknown field is 422 and writes nothing', async () => {
    const bodies: [Record<string, unknown>, string][] = [
      [{ service: 'API', status: 'degraded' }, '/body/service'],
      [{ service: 'api_v2', status: 'degraded' }, '/body/service'],
      [{ service: '-api', status: 'degraded' }, '/body/service'],
      [{ service: 'api-', status: 'degraded' }, '/body/service'],
      [{ service: 'a--b', status: 'degraded' }, '/body/service'],
      [{ service: '', status: 'degraded' }, '/body/service'],
      [{ service: 'a'.repeat(65), status: 'degraded' }, '/body/service'],
      [{ service: 'api', status: 'down' }, '/body/status'],
      [{ service: 'api' }, '/body/status'],
      [{ status: 'degraded' }, '/body/service'],
      [{ service: 'api', status: 'degraded', description: 'x'.repeat(2001) }, '/body/description'],
      [{ service: 'api', status: 'degraded', since: '2020-01-01T00:00:00Z' }, '/body'],
    ]
    for (const [body, pointer] of bodies) {
      const res = await h().call('POST', '/api/v1/status/events', { body, token: callers.staff.token })
      expect(res.status, JSON.stringify(body)).toBe(422)
      expect(res.body.code).toBe('validation_failed')
      expect(
        res.body.errors.map((error: { pointer: string }) => error.pointer).join(' '),
        JSON.stringify(body),
      ).toContain(pointer)
    }
    expect(await counts(h())).toEqual({ events: 0, services: 0 })
  })

  test('POST /status/events: 201 the event with Location, and the service gets that status', async () => {
    const res = await h().call('POST', '/api/v1/status/events', {
      token: callers.staff.token,
      body: { service: 'api', status: 'degraded', description: 'Slow responses' },
    })
    expect(res.status).toBe(201)
    expect(res.body).toEqual({
      id: expect.any(Number),
      service: 'api',
      status: 'degraded',
      description: 'Slow responses',
      created_at: expect.any(String),
    })
    expect(res.headers.get('location')).toBe(`/api/v1/status/events/${res.body.id}`)
    const again = await h().call('GET', res.headers.get('location') as string)
    expect(again.status).toBe(200)
    expect(again.body).toEqual(res.body)

    const current = await h().call('GET', '/api/v1/status/services/api')
    expect(current.status).toBe(200)
    expect(current.headers.get('cache-control')).toBe(PUBLIC_CACHE)
    expect(current.body).toEqual({
      service: 'api',
      status: 'degraded',
      since: res.body.created_at,
      description: 'Slow responses',
    })

    const byAdmin = await h().call('POST', '/api/v1/status/events', {
      token: callers.admin.token,
      body: { service: 'api', status: 'operational' },
    })
    expect(byAdmin.status).toBe(201)
    expect(byAdmin.body.description).toBeNull()
  })

  test('since is kept across repeated same-status events and moves when the status changes', async () => {
    const first = await post('db-primary', 'maintenance', 'Upgrade')
    const repeat = await post('db-primary', 'maintenance', 'Still upgrading')
    let current = (await h().call('GET', '/api/v1/status/services/db-primary')).body
    expect(current.since).toBe(first.created_at)
    expect(current.description).toBe('Still upgrading')
    expect(new Date(repeat.created_at).getTime()).toBeGreaterThanOrEqual(new Date(first.created_at).getTime())

    const [row] = await h()
      .database.handle.db.select()
      .from(services)
      .where(eq(services.service, 'db-primary'))
    expect(row?.version).toBe(2)

    const change = await post('db-primary', 'operational')
    current = (await h().call('GET', '/api/v1/status/services/db-primary')).body
    expect(current.since).toBe(change.created_at)
    expect(current.status).toBe('operational')
    expect(current.description).toBeNull()
  })

  test('GET /status: overall is the worst current status and reasons name the services that set it', async () => {
    // Start from a known state: every service seen so far is operational.
    for (const service of (await summary()).services) {
      if (service.status !== 'operational') await post(service.service, 'operational')
    }
    let body = await summary()
    expect(body.status).toBe('operational')
    expect(body.reasons).toEqual([])

    await post('web', 'maintenance')
    await post('search', 'degraded')
    body = await summary()
    expect(body.status).toBe('degraded')
    expect(body.reasons).toEqual([{ service: 'search', status: 'degraded', since: expect.any(String) }])

    const outage = await post('queue', 'partial_outage', 'Consumers lagging')
    const second = await post('web', 'partial_outage')
    body = await summary()
    expect(body.status).toBe('partial_outage')
    expect(body.reasons).toEqual([
      { service: 'queue', status: 'partial_outage', since: outage.created_at },
      { service: 'web', status: 'partial_outage', since: second.created_at },
    ])
    expect(body.updated_at).toBe(second.created_at)
    const names = body.services.map((service: { service: string }) => service.service)
    expect(names).toEqual([...names].sort())
    expect(body.services.find((service: { service: string }) => service.service === 'queue')).toEqual({
      service: 'queue',
      status: 'partial_outage',
      since: outage.created_at,
      description: 'Consumers lagging',
    })

    await post('search', 'major_outage')
    body = await summary()
    expect(body.status).toBe('major_outage')
    expect(body.reasons.map((reason: { service: string }) => reason.service)).toEqual(['search'])

    for (const service of ['web', 'search', 'queue']) await post(service, 'operational')
    body = await summary()
    expect(body.status).toBe('operational')
    expect(body.reasons).toEqual([])
  })

  test('GET /status/events is public, newest first, filterable by service and paginated', async () => {
    const res = await h().call('GET', '/api/v1/status/events?page_size=100')
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe(PUBLIC_CACHE)
    const { events } = await counts(h())
    expect(res.body.total).toBe(events)
    const order = res.body.items.map((event: { created_at: string; id: number }) => [
      event.created_at,
      event.id,
    ])
    const sorted = [...order].sort((a, b) => (a[0] === b[0] ? b[1] - a[1] : a[0] < b[0] ? 1 : -1))
    expect(order).toEqual(sorted)

    const db = await h().call('GET', '/api/v1/status/events?service=db-primary', {
      token: callers.user.token,
    })
    expect(db.status).toBe(200)
    expect(db.body.total).toBe(3)
    expect(db.body.items.map((event: { status: string }) => event.status)).toEqual([
      'operational',
      'maintenance',
      'maintenance',
    ])

    const paged = await h().call('GET', '/api/v1/status/events?service=db-primary&page=2&page_size=2')
    expect(paged.body).toMatchObject({ page: 2, page_size: 2, total: 3, pages: 2 })
    expect(paged.body.items).toEqual([db.body.items[2]])
    expect(paged.headers.get('link')).toContain('rel="prev"')

    const past = await h().call('GET', '/api/v1/status/events?page=50')
    expect(past.body.items).toEqual([])
    expect(past.body.total).toBe(events)

    const none = await h().call('GET', '/api/v1/status/events?service=never-seen')
    expect(none.body).toMatchObject({ items: [], total: 0, pages: 0 })

    for (const query of ['service=Bad_Slug', 'page=0', 'page_size=101', 'status=degraded']) {
      expect((await h().call('GET', `/api/v1/status/events?${query}`)).status, query).toBe(422)
    }
  })

  test('GET /status/services/:service: 404 for an unknown service, 422 for a malformed slug', async () => {
    const missing = await h().call('GET', '/api/v1/status/services/never-seen')
    expect(missing.status).toBe(404)
    expect(missing.body.code).toBe('not_found')
    expect((await h().call('GET', '/api/v1/status/services/Not_A_Slug')).status).toBe(422)
    expect((await h().call('GET', '/api/v1/status/events/999999')).status).toBe(404)
    expect((await h().call('GET', '/api/v1/status/events/99999999999')).status).toBe(404)
    expect((await h().call('GET', '/api/v1/status/events/abc')).status).toBe(422)
  })

  test('concurrent events for one service leave it with the status of the newest event', async () => {
    const statuses = ['degraded', 'partial_outage', 'major_outage', 'maintenance', 'operational', 'degraded']
    await Promise.all(statuses.map((status) => post('burst', status)))
    const newest = (await h().call('GET', '/api/v1/status/events?service=burst&page_size=1')).body.items[0]
    const current = (await h().call('GET', '/api/v1/status/services/burst')).body
    expect(current.status).toBe(newest.status)
    const [row] = await h().database.handle.db.select().from(services).where(eq(services.service, 'burst'))
    expect(row?.version).toBe(statuses.length)
  })
  test('GET /status/services/:service has a strong ETag from the row version; If-None-Match is 304, still public', async () => {
    await post('etag-check', 'degraded')
    const res = await h().call('GET', '/api/v1/status/services/etag-check')
    expect(res.headers.get('etag')).toBe('"v1"')
    const cached = await h().call('GET', '/api/v1/status/services/etag-check', {
      headers: { 'if-none-match': '"v1"' },
    })
    expect(cached.status).toBe(304)
    expect(cached.headers.get('cache-control')).toBe(PUBLIC_CACHE)
    await post('etag-check', 'degraded', 'update')
    expect((await h().call('GET', '/api/v1/status/services/etag-check')).headers.get('etag')).toBe('"v2"')
    const summaryTag = (await h().call('GET', '/api/v1/status')).headers.get('etag')
    expect(summaryTag).toBeTruthy()
    await post('etag-check', 'operational')
    expect((await h().call('GET', '/api/v1/status')).headers.get('etag')).not.toBe(summaryTag)
  })

  test('POST /status/events with the same Idempotency-Key records one event and replays the 201', async () => {
    const before = await counts(h())
    const key = crypto.randomUUID()
    const send = () =>
      h().call('POST', '/api/v1/status/events', {
        token: callers.staff.token,
        body: { service: 'idem', status: 'maintenance' },
        headers: { 'idempotency-key': key },
      })
    const first = await send()
    const second = await send()
    expect(first.status).toBe(201)
    expect(second.status).toBe(201)
    expect(second.headers.get('idempotent-replayed')).toBe('true')
    expect(second.text).toBe(first.text)
    expect((await counts(h())).events).toBe((before.events ?? 0) + 1)
  })

  test('each instance keeps the service statuses STATUS_CACHE_MS: its own writes show at once, another instance’s within that time', async () => {
    /** Another instance on the same database, with its own copy kept `ms`. */
    const instance = (ms: number) => {
      const app = createApp({
        database: h().database.handle,
        config: testConfig({ STATUS_CACHE_MS: String(ms) }),
        logger: createLogger('silent'),
      })
      const get = async (path: string) => {
        const res = await app.handle(new Request(`${TEST_ORIGIN}/api/v1${path}`))
        expect(res.status).toBe(200)
        return res.json()
      }
      return {
        status: async () => ((await get('/status/services/cache-check')) as { status: string }).status,
        inSummary: async () =>
          ((await get('/status')) as { services: { service: string; status: string }[] }).services.find(
            (entry) => entry.service === 'cache-check',
          )?.status,
      }
    }
    await post('cache-check', 'operational')
    const keepsLong = instance(15_000)
    const keepsBriefly = instance(200)
    const keepsNothing = instance(0)
    for (const other of [keepsLong, keepsBriefly, keepsNothing])
      expect(await other.status()).toBe('operational')

    await post('cache-check', 'major_outage')
    // The writing instance dropped its copy at its commit.
    expect((await summary()).status).toBe('major_outage')
    expect(await keepsNothing.status()).toBe('major_outage')
    // The summary and the service come from one copy, so they agree.
    expect(await keepsLong.status()).toBe('operational')
    expect(await keepsLong.inSummary()).toBe('operational')
    await eventually(async () => expect(await keepsBriefly.status()).toBe('major_outage'))
    await post('cache-check', 'operational')
  })
})
