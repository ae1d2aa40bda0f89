import { beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { projects } from '../../db/schema'
import { assertIfMatch, ifMatchOf, noneMatch } from '../../server/http/conditional'
import { describeEachDatabase } from '../support/app'
import { createSignedInUser, type TestUser } from '../support/users'

describe('tag comparison', () => {
  const withIfMatch = (value: string) =>
    new Request('http://neoforge.test/', { headers: { 'if-match': value } })

  test('RFC 9110: If-None-Match uses weak comparison, accepts lists and *', () => {
    expect(noneMatch('"v1"', '"v1"')).toBe(true)
    expect(noneMatch('W/"v1"', '"v1"')).toBe(true)
    expect(noneMatch('"v0", "v1"', '"v1"')).toBe(true)
    expect(noneMatch('*', '"v1"')).toBe(true)
    expect(noneMatch('"v2"', '"v1"')).toBe(false)
    expect(noneMatch(null, '"v1"')).toBe(false)
  })

  test('RFC 9110: If-Match uses strong comparison: weak or foreign tags never match', () => {
    expect(() => assertIfMatch(ifMatchOf(withIfMatch('"v3"')), 3)).not.toThrow()
    expect(() => assertIfMatch(ifMatchOf(withIfMatch('"v1", "v3"')), 3)).not.toThrow()
    expect(() => assertIfMatch(ifMatchOf(withIfMatch('*')), 3)).not.toThrow()
    expect(() => assertIfMatch(ifMatchOf(withIfMatch('W/"v3"')), 3)).toThrow()
    expect(() => assertIfMatch(ifMatchOf(withIfMatch('"abc"')), 3)).toThrow()
    expect(() => assertIfMatch(null, 3)).not.toThrow()
  })
})

describeEachDatabase(
  'conditional requests',
  (h) => {
    let owner: TestUser
    let projectId: string
    beforeAll(async () => {
      owner = await createSignedInUser(h(), 'user')
      const created = await h().call('POST', '/api/v1/projects', {
        token: owner.token,
        body: { name: 'Tagged' },
      })
      projectId = created.body.id
    }, 30_000)

    const getProject = (headers: Record<string, string> = {}) =>
      h().call('GET', `/api/v1/projects/${projectId}`, { token: owner.token, headers })

    test('CONTRACT §4: an item GET carries a strong ETag from the row version, private caching, Vary', async () => {
      const res = await getProject()
      expect(res.status).toBe(200)
      expect(res.headers.get('etag')).toMatch(/^"v\d+"$/)
      expect(res.headers.get('cache-control')).toBe('private, no-cache')
      expect(res.headers.get('vary')).toContain('Authorization, Cookie')
    })

    test('CONTRACT §4: If-None-Match with the current tag (weak, in a list, or *) is 304 with the same headers and no body', async () => {
      const fresh = await getProject()
      const etag = fresh.headers.get('etag') as string
      for (const header of [etag, `W/${etag}`, `"v999", ${etag}`, '*']) {
        const res = await getProject({ 'if-none-match': header })
        expect(res.status).toBe(304)
        expect(res.text).toBe('')
        expect(res.headers.get('etag')).toBe(etag)
        expect(res.headers.get('cache-control')).toBe(fresh.headers.get('cache-control'))
        expect(res.headers.get('vary')).toBe(fresh.headers.get('vary'))
      }
      expect((await getProject({ 'if-none-match': '"v999"' })).status).toBe(200)
    })

    test('CONTRACT §4: a stale If-Match on PATCH is 412 precondition_failed and the row is unchanged', async () => {
      const before = await getProject()
      const stale = before.headers.get('etag') as string
      const ok = await h().call('PATCH', `/api/v1/projects/${projectId}`, {
        token: owner.token,
        body: { name: 'Tagged, renamed' },
        headers: { 'if-match': stale },
      })
      expect(ok.status).toBe(200)
      expect(ok.headers.get('etag')).not.toBe(stale)

      const [row] = await h().database.handle.db.select().from(projects).where(eq(projects.id, projectId))
      const refused = await h().call('PATCH', `/api/v1/projects/${projectId}`, {
        token: owner.token,
        body: { name: 'Lost update' },
        headers: { 'if-match': stale },
      })
      expect(refused.status).toBe(412)
      expect(refused.headers.get('content-type')).toBe('application/problem+json')
      expect(refused.body.code).toBe('precondition_failed')
      const [after] = await h().database.handle.db.select().from(projects).where(eq(projects.id, projectId))
      expect(after).toEqual(row)
    })

    test('CONTRACT §4: a weak tag never satisfies If-Match; without If-Match the write proceeds', async () => {
      const current = (await getProject()).headers.get('etag') as string
      const weak = await h().call('PATCH', `/api/v1/projects/${projectId}`, {
        token: owner.token,
        body: { description: 'weak' },
        headers: { 'if-match': `W/${current}` },
      })
      expect(weak.status).toBe(412)
      const unconditional = await h().call('PATCH', `/api/v1/projects/${projectId}`, {
        token: owner.token,
        body: { description: 'no precondition' },
      })
      expect(unconditional.status).toBe(200)
    })

    test('CONTRACT §4: a stale If-Match on DELETE is 412 and the row survives; the current tag deletes', async () => {
      const created = await h().call('POST', '/api/v1/projects', {
        token: owner.token,
        body: { name: 'Doomed' },
      })
      const etag = created.headers.get('etag') as string
      await h().call('PATCH', `/api/v1/projects/${created.body.id}`, {
        token: owner.token,
        body: { name: 'Doomed v2' },
      })
      const refused = await h().call('DELETE', `/api/v1/projects/${created.body.id}`, {
        token: owner.token,
        headers: { 'if-match': etag },
      })
      expect(refused.status).toBe(412)
      expect(
        (await h().call('GET', `/api/v1/projects/${created.body.id}`, { token: owner.token })).status,
      ).toBe(200)
      const current = (
        await h().call('GET', `/api/v1/projects/${created.body.id}`, { token: owner.token })
      ).headers.get('etag')
      const deleted = await h().call('DELETE', `/api/v1/projects/${created.body.id}`, {
        token: owner.token,
        headers: { 'if-match': current as string },
      })
      expect(deleted.status).toBe(204)
    })

    test('CONTRACT §4: a list ETag answers 304 and changes when an item on the page, the total or the query changes', async () => {
      const list = (query = '') => h().call('GET', `/api/v1/projects${query}`, { token: owner.token })
      const first = await list()
      const etag = first.headers.get('etag') as string
      expect(etag).toMatch(/^W\/".+"$/)
      const notModified = await h().call('GET', '/api/v1/projects', {
        token: owner.token,
        headers: { 'if-none-match': etag },
      })
      expect(notModified.status).toBe(304)
      expect(notModified.headers.get('etag')).toBe(etag)

      expect((await list('?page_size=5')).headers.get('etag')).not.toBe(etag)

      await h().call('PATCH', `/api/v1/projects/${projectId}`, {
        token: owner.token,
        body: { description: 'edited' },
      })
      const afterEdit = (await list()).headers.get('etag')
      expect(afterEdit).not.toBe(etag)

      await h().call('POST', '/api/v1/projects', { token: owner.token, body: { name: 'One more' } })
      expect((await list()).headers.get('etag')).not.toBe(afterEdit)
    })

    test('CONTRACT §4: public status endpoints are shared-cacheable, 304 included', async () => {
      const res = await h().call('GET', '/api/v1/status')
      expect(res.headers.get('cache-control')).toBe('public, max-age=15, stale-while-revalidate=30')
      const again = await h().call('GET', '/api/v1/status', {
        headers: { 'if-none-match': res.headers.get('etag') as string },
      })
      expect(again.status).toBe(304)
      expect(again.headers.get('cache-control')).toBe('public, max-age=15, stale-while-revalidate=30')
    })

    test('CONTRACT §4: ETag, rate-limit and idempotency headers are exposed to allowed browser origins', async () => {
      const res = await h().call('GET', `/api/v1/projects/${projectId}`, {
        token: owner.token,
        headers: { origin: 'https://app.example.test' },
      })
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.test')
      const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase()
      for (const name of [
        'etag',
        'location',
        'link',
        'retry-after',
        'idempotent-replayed',
        'x-ratelimit-remaining',
        'ratelimit',
      ]) {
        expect(exposed).toContain(name)
      }
      const stranger = await h().call('GET', '/api/v1/status', {
        headers: { origin: 'https://evil.example.test' },
      })
      expect(stranger.headers.get('access-control-allow-origin')).toBeNull()
    })
  },
  { env: { CORS_ORIGINS: 'https://app.example.test' } },
)
