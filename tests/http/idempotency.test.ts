import { beforeAll, describe, expect, test } from 'bun:test'
import { and, eq, sql } from 'drizzle-orm'
import postgres from 'postgres'
import { communityPosts, idempotencyKeys, projects, supportTickets } from '../../db/schema'
import { canonicalJson, fingerprintOf, KEY_LOCK_CLASS, keyLockName } from '../../server/http/idempotency'
import { describeEachDatabase } from '../support/app'
import { eventually } from '../support/eventually'
import { createSignedInUser, type TestUser } from '../support/users'

describe('canonical JSON', () => {
  test('CONTRACT §5: object keys sorted recursively; arrays keep their order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"e":2,"f":1}]},"b":1}',
    )
    expect(fingerprintOf('POST', '/x', { a: 1, b: 2 })).toBe(fingerprintOf('POST', '/x', { b: 2, a: 1 }))
    expect(fingerprintOf('POST', '/x', { a: 1 })).not.toBe(fingerprintOf('POST', '/y', { a: 1 }))
    expect(fingerprintOf('POST', '/x', { a: 1 })).not.toBe(fingerprintOf('PATCH', '/x', { a: 1 }))
  })
})

describeEachDatabase('idempotency keys', (h, kind) => {
  let alice: TestUser
  let bob: TestUser
  beforeAll(async () => {
    alice = await createSignedInUser(h(), 'user')
    bob = await createSignedInUser(h(), 'user')
  }, 30_000)

  /** A signed-in POST to `path` under `key` (none when null); `raw` sends those bytes as the body. */
  const send = (path: string, key: string | null, body: unknown, token = alice.token, raw?: string) =>
    h().request(path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        ...(key !== null ? { 'idempotency-key': key } : {}),
      },
      body: raw ?? JSON.stringify(body),
    })
  const post = (key: string | null, body: unknown, token?: string, raw?: string) =>
    send('/api/v1/projects', key, body, token, raw)
  const projectCount = async (name: string) =>
    (await h().database.handle.db.select().from(projects).where(eq(projects.name, name))).length

  test('CONTRACT §5: a replay returns the stored status, body byte for byte, Location, and Idempotent-Replayed', async () => {
    const first = await post('create-1', { name: 'Replayed', description: 'once' })
    const firstText = await first.text()
    expect(first.status).toBe(201)
    expect(first.headers.get('idempotent-replayed')).toBeNull()

    const again = await post('create-1', { name: 'Replayed', description: 'once' })
    expect(again.status).toBe(201)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(await again.text()).toBe(firstText)
    expect(again.headers.get('location')).toBe(first.headers.get('location'))
    expect(again.headers.get('etag')).toBe(first.headers.get('etag'))
    expect(again.headers.get('content-type')).toStartWith('application/json')
    expect(await projectCount('Replayed')).toBe(1)
  })

  test('CONTRACT §5: a replay writes nothing: the stored row is untouched', async () => {
    const body = { name: 'Read-only replay' }
    expect((await post('replay-writes-nothing', body)).status).toBe(201)
    const where = eq(idempotencyKeys.key, 'replay-writes-nothing')
    const [before] = await h().database.handle.db.select().from(idempotencyKeys).where(where)
    const again = await post('replay-writes-nothing', body)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    const [after] = await h().database.handle.db.select().from(idempotencyKeys).where(where)
    expect(after).toEqual(before as NonNullable<typeof before>)
  })

  test('CONTRACT §5: the fingerprint ignores key order and insignificant whitespace', async () => {
    const first = await post('create-2', { name: 'Canonical', description: 'x' })
    const again = await post('create-2', null, alice.token, '{ "description" : "x",\n  "name":"Canonical" }')
    expect(first.status).toBe(201)
    expect(again.status).toBe(201)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(await projectCount('Canonical')).toBe(1)
  })

  test('CONTRACT §5: the same key with a different body is 422 idempotency_key_reused and writes nothing', async () => {
    await post('create-3', { name: 'First body' })
    const res = await post('create-3', { name: 'Second body' })
    expect(res.status).toBe(422)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(((await res.json()) as { code: string }).code).toBe('idempotency_key_reused')
    expect(await projectCount('Second body')).toBe(0)
  })

  test('CONTRACT §5: keys outside 1..255 printable ASCII are 400 and nothing is written', async () => {
    for (const key of ['', 'x'.repeat(256), 'clé', 'tab\there']) {
      const res = await post(key, { name: 'Bad key' })
      expect(res.status).toBe(400)
      expect(((await res.json()) as { code: string }).code).toBe('invalid_idempotency_key')
    }
    expect((await post('x'.repeat(255), { name: 'Longest key' })).status).toBe(201)
    expect(await projectCount('Bad key')).toBe(0)
  })

  test('CONTRACT §5: without the header a request simply runs, once per request', async () => {
    expect((await post(null, { name: 'No key' })).status).toBe(201)
    expect((await post(null, { name: 'No key' })).status).toBe(201)
    expect(await projectCount('No key')).toBe(2)
  })

  test('CONTRACT §5: keys are scoped to the caller: two users may use the same key', async () => {
    expect((await post('shared-key', { name: 'Alice’s' })).status).toBe(201)
    const bobs = await post('shared-key', { name: 'Bob’s' }, bob.token)
    expect(bobs.status).toBe(201)
    expect(bobs.headers.get('idempotent-replayed')).toBeNull()
  })

  test('CONTRACT §5: keys are scoped to method and path', async () => {
    const created = (await (await post('path-key', { name: 'Path scoped' })).json()) as { id: string }
    const patch = await h().call('PATCH', `/api/v1/projects/${created.id}`, {
      token: alice.token,
      body: { name: 'Path scoped, renamed' },
      headers: { 'idempotency-key': 'path-key' },
    })
    expect(patch.status).toBe(200)
    expect(patch.headers.get('idempotent-replayed')).toBeNull()
  })

  test('CONTRACT §5: a validation failure is not stored, so the key can be used for the corrected request', async () => {
    const invalid = await post('fix-me', { name: '' })
    expect(invalid.status).toBe(422)
    const fixed = await post('fix-me', { name: 'Fixed' })
    expect(fixed.status).toBe(201)
    expect(fixed.headers.get('idempotent-replayed')).toBeNull()
  })

  test('CONTRACT §5: an error from the handler releases the claim (no row left behind)', async () => {
    const missing = crypto.randomUUID()
    const res = await h().call('PATCH', `/api/v1/projects/${missing}`, {
      token: alice.token,
      body: { name: 'Nobody' },
      headers: { 'idempotency-key': 'released' },
    })
    expect(res.status).toBe(404)
    const rows = await h()
      .database.handle.db.select()
      .from(idempotencyKeys)
      .where(eq(idempotencyKeys.key, 'released'))
    expect(rows).toHaveLength(0)
  })

  /**
   * The two ways a route writes under a key: POST /projects hands its row to the one-statement
   * `idempotency.insert`; POST /community/posts runs a transaction through `idempotency.run`.
   */
  const writePaths = [
    { via: 'insert', path: '/api/v1/projects', body: (name: string) => ({ name }), count: projectCount },
    {
      via: 'run',
      path: '/api/v1/community/posts',
      body: (name: string) => ({ title: name, content: 'Written under an Idempotency-Key.' }),
      count: async (name: string) =>
        (await h().database.handle.db.select().from(communityPosts).where(eq(communityPosts.title, name)))
          .length,
    },
  ] as const
  /** A transaction on another connection: a request of another instance, frozen mid-way. */
  async function otherTransaction() {
    const server = postgres(h().database.url as string, { max: 1, onnotice: () => {} })
    const connection = await server.reserve()
    await connection`begin`
    return {
      connection,
      async end(how: 'commit' | 'die') {
        if (how === 'commit') await connection`commit`
        else
          await h().database.handle.rows(
            sql`select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and classid = ${KEY_LOCK_CLASS} and granted and pid <> pg_backend_pid()`,
          )
        connection.release()
        await server.end({ timeout: 1 }).catch(() => {})
      },
    }
  }

  /** Holds a key the way a running request does, from another connection, until `end`. */
  async function holdKey(key: string, path = '/api/v1/projects') {
    const other = await otherTransaction()
    const lockName = keyLockName({ scope: `user:${alice.id}`, method: 'POST', path, key })
    await other.connection`select pg_advisory_xact_lock(${KEY_LOCK_CLASS}::int, hashtext(${lockName}))`
    return other
  }

  // PGlite runs one transaction at a time, so no request is ever in flight beside another there.
  for (const { via, path, body, count } of writePaths) {
    test.if(kind === 'postgres')(
      `CONTRACT §5 (${via}): a key still in flight is 409 idempotency_key_in_use with Retry-After: 1, at once`,
      async () => {
        const key = `in-flight-${via}`
        const held = await holdKey(key, path)
        try {
          const res = await send(path, key, body('In flight'))
          expect(res.status).toBe(409)
          expect(res.headers.get('retry-after')).toBe('1')
          expect(((await res.json()) as { code: string }).code).toBe('idempotency_key_in_use')
          expect(await count('In flight')).toBe(0)
        } finally {
          await held.end('commit')
        }
        expect((await send(path, key, body('In flight'))).status).toBe(201)
        expect(await count('In flight')).toBe(1)
      },
    )

    test.if(kind === 'postgres')(
      `CONTRACT §5 (${via}): a duplicate that stores its response while this request writes wins; this one is undone and replays it`,
      async () => {
        const key = `stored-meanwhile-${via}`
        const duplicate = await otherTransaction()
        // The duplicate's key row, written but not yet committed: this request's snapshot misses
        // it, takes the (free) lock, writes, and then waits on the row's unique key.
        const stored = '{"written_by":"the duplicate"}'
        await duplicate.connection`insert into idempotency_keys
            (scope, method, path, key, fingerprint, response_status, response_headers, response_body, expires_at)
          values (${`user:${alice.id}`}, 'POST', ${path}, ${key}, ${fingerprintOf('POST', path, body('Meanwhile'))},
            201, ${JSON.stringify({ 'content-type': 'application/json; charset=utf-8' })}::jsonb, ${stored}, now() + interval '1 hour')`
        let response: Promise<Response> | undefined
        try {
          response = send(path, key, body('Meanwhile'))
          await eventually(async () => {
            const [waiting] = await h().database.handle.rows<{ n: number }>(
              sql`select count(*)::int as n from pg_locks where locktype = 'transactionid' and not granted`,
            )
            expect(waiting?.n).toBe(1)
          })
        } finally {
          await duplicate.end('commit')
        }
        const res = await response
        expect(res.status).toBe(201)
        expect(res.headers.get('idempotent-replayed')).toBe('true')
        expect(await res.text()).toBe(stored)
        expect(await count('Meanwhile')).toBe(0)
      },
    )
  }

  test.if(kind === 'postgres')(
    'CONTRACT §5: the claim of a request whose connection died is released at once (well within 60 s)',
    async () => {
      const held = await holdKey('dead-claim')
      expect((await post('dead-claim', { name: 'Dead claim' })).status).toBe(409)
      await held.end('die')
      const res = await post('dead-claim', { name: 'Dead claim' })
      expect(res.status).toBe(201)
      expect(res.headers.get('idempotent-replayed')).toBeNull()
      expect(await projectCount('Dead claim')).toBe(1)
      expect((await post('dead-claim', { name: 'Dead claim' })).headers.get('idempotent-replayed')).toBe(
        'true',
      )
    },
  )

  test('CONTRACT §5: completed keys expire after the TTL and the cron job deletes them', async () => {
    await post('expiring', { name: 'Expiring' })
    const where = and(eq(idempotencyKeys.key, 'expiring'), eq(idempotencyKeys.scope, `user:${alice.id}`))
    const [stored] = await h().database.handle.db.select().from(idempotencyKeys).where(where)
    expect(stored?.responseStatus).toBe(201)
    const ttl = ((stored?.expiresAt.getTime() ?? 0) - (stored?.completedAt?.getTime() ?? 0)) / 1000
    expect(Math.round(ttl)).toBe(86_400)

    await h()
      .database.handle.db.update(idempotencyKeys)
      .set({ expiresAt: sql`now() - interval '1 second'` })
      .where(where)
    // An expired key is a new key: the request runs again.
    const again = await post('expiring', { name: 'Expiring' })
    expect(again.headers.get('idempotent-replayed')).toBeNull()
    expect(await projectCount('Expiring')).toBe(2)

    await h()
      .database.handle.db.update(idempotencyKeys)
      .set({ expiresAt: sql`now() - interval '1 second'` })
      .where(where)
    expect(await h().app.jobs.run('idempotency-keys')).toBe('success')
    expect(await h().database.handle.db.select().from(idempotencyKeys).where(where)).toHaveLength(0)
  })

  test('CONTRACT §5: anonymous callers share the anonymous scope', async () => {
    const body = { email: 'anon@example.test', subject: 'Help', message: 'Please' }
    const first = await h().call('POST', '/api/v1/support/tickets', {
      body,
      headers: { 'idempotency-key': 'anon-1' },
    })
    const again = await h().call('POST', '/api/v1/support/tickets', {
      body,
      headers: { 'idempotency-key': 'anon-1' },
    })
    expect(first.status).toBe(201)
    expect(again.status).toBe(201)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(again.body.id).toBe(first.body.id)
    const tickets = await h()
      .database.handle.db.select()
      .from(supportTickets)
      .where(eq(supportTickets.subject, 'Help'))
    expect(tickets).toHaveLength(1)
  })

  test('CONTRACT §5: 50 concurrent requests with one key write exactly one row; the rest replay or get 409; no 5xx', async () => {
    const body = { name: 'Fifty at once' }
    const responses = await Promise.all(Array.from({ length: 50 }, () => post('fifty', body)))
    const statuses = responses.map((r) => r.status)
    const replayed = responses.filter((r) => r.headers.get('idempotent-replayed') === 'true').length
    const created = responses.filter(
      (r) => r.status === 201 && r.headers.get('idempotent-replayed') === null,
    ).length
    const inFlight = statuses.filter((s) => s === 409).length
    expect(statuses.filter((s) => s >= 500)).toEqual([])
    expect(created).toBe(1)
    expect(created + replayed + inFlight).toBe(50)
    expect(await projectCount('Fifty at once')).toBe(1)
  })

  test('CONTRACT §9: replays and conflicts are counted', async () => {
    const metrics = await (await h().request('/metrics')).text()
    expect(metrics).toMatch(/^idempotency_replays_total [1-9]/m)
    expect(metrics).toMatch(/^idempotency_conflicts_total\{kind="reused"\} [1-9]/m)
    // Only PostgreSQL runs a duplicate beside its first request (see the in-flight test).
    expect(metrics).toMatch(
      kind === 'postgres'
        ? /^idempotency_conflicts_total\{kind="in_flight"\} [1-9]/m
        : /^idempotency_conflicts_total\{kind="in_flight"\} 0$/m,
    )
  })
})
