import { beforeAll, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { userSessions } from '../../../db/schema'
import { describeEachDatabase } from '../../support/app'
import {
  auditRows,
  expectProblem,
  GENEROUS_RATE_LIMITS,
  ISO_UTC,
  JSON_UTF8,
  parseLinks,
  pointersOf,
  problemWithoutRequest,
  register,
  SLOW,
  signIn,
  type TokenPair,
  type UserView,
  UUID,
  uniqueEmail,
} from '../../support/identity'

const SESSIONS = '/api/v1/auth/sessions'
const ME = '/api/v1/auth/me'

describeEachDatabase(
  'session listing and revocation (§3, §7)',
  (h) => {
    let carol: UserView
    let mallory: UserView
    /** Carol's five sessions, oldest first; she calls with the third one's token. */
    const carolPairs: TokenPair[] = []
    let current: TokenPair
    let malloryPair: TokenPair

    beforeAll(async () => {
      ;[carol, mallory] = await Promise.all([
        register(h(), uniqueEmail('carol')),
        register(h(), uniqueEmail('mallory')),
      ])
      // One at a time, so that every session has its own created_at.
      for (let i = 1; i <= 5; i++)
        carolPairs.push(await signIn(h(), carol.email, undefined, { 'user-agent': `agent-${i}` }))
      current = carolPairs[2] as TokenPair
      malloryPair = await signIn(h(), mallory.email)
    }, SLOW * 2)

    const list = (query = '', token = current.access_token) =>
      h().call('GET', `${SESSIONS}${query ? `?${query}` : ''}`, { token })
    const revoke = (id: string, token = current.access_token) =>
      h().call('POST', `${SESSIONS}/${id}/revoke`, { token })
    const idsOf = (pairs: TokenPair[]) => pairs.map((pair) => pair.session_id)
    const newestFirst = () => idsOf([...carolPairs].reverse())

    test('§7 GET /auth/sessions is a §3 page of my sessions, newest first, with is_current', async () => {
      const res = await list()
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(JSON_UTF8)
      expect(res.body).toMatchObject({ total: 5, page: 1, page_size: 20, pages: 1 })
      expect(res.body.items.map((item: { id: string }) => item.id)).toEqual(newestFirst())
      for (const item of res.body.items) {
        expect(item).toEqual(
          expect.objectContaining({
            id: expect.stringMatching(UUID),
            created_at: expect.stringMatching(ISO_UTC),
            last_used_at: expect.stringMatching(ISO_UTC),
            user_agent: expect.stringMatching(/^agent-\d$/),
            ip: expect.any(String),
            expires_at: expect.stringMatching(ISO_UTC),
            revoked_at: null,
            is_current: item.id === current.session_id,
          }),
        )
        expect(Object.keys(item).some((key) => /token|hash|secret/i.test(key))).toBe(false)
      }
      expect(res.body.items.filter((item: { is_current: boolean }) => item.is_current)).toHaveLength(1)
      const createdAt = res.body.items.map((item: { created_at: string }) => item.created_at)
      expect([...createdAt].sort().reverse()).toEqual(createdAt)
    })

    test('§7 another user sees only their own sessions', async () => {
      const res = await list('', malloryPair.access_token)
      expect(res.body.total).toBe(1)
      expect(res.body.items.map((item: { id: string }) => item.id)).toEqual([malloryPair.session_id])
    })

    test('§3 page and page_size slice the list; Link has first, next and last on the first page', async () => {
      const res = await list('page_size=2')
      expect(res.body).toMatchObject({ total: 5, page: 1, page_size: 2, pages: 3 })
      expect(res.body.items.map((item: { id: string }) => item.id)).toEqual(newestFirst().slice(0, 2))
      const links = parseLinks(res.headers.get('link'))
      expect(Object.keys(links).sort()).toEqual(['first', 'last', 'next'])
      expect(new URL(links.last as string, 'http://x').searchParams.get('page')).toBe('3')
    })

    test('§3 a middle page links first, prev, next and last; following the links walks the whole list', async () => {
      const middle = await list('page=2&page_size=2')
      expect(Object.keys(parseLinks(middle.headers.get('link'))).sort()).toEqual([
        'first',
        'last',
        'next',
        'prev',
      ])

      const seen: string[] = []
      let target: string | undefined = `${SESSIONS}?page_size=2`
      let pages = 0
      while (target) {
        const res = await h().call('GET', target, { token: current.access_token })
        expect(res.status).toBe(200)
        seen.push(...res.body.items.map((item: { id: string }) => item.id))
        target = parseLinks(res.headers.get('link')).next
        pages += 1
        expect(pages).toBeLessThanOrEqual(3)
      }
      expect(pages).toBe(3)
      expect(seen).toEqual(newestFirst())
    })

    test('§3 the last page has no next link', async () => {
      const res = await list('page=3&page_size=2')
      expect(res.body.items.map((item: { id: string }) => item.id)).toEqual(newestFirst().slice(4))
      expect(Object.keys(parseLinks(res.headers.get('link'))).sort()).toEqual(['first', 'last', 'prev'])
    })

    test('§3 a page past the end is 200 with items [] and the true total and pages', async () => {
      const res = await list('page=4&page_size=2')
      expect(res.status).toBe(200)
      expect(res.body).toEqual({ items: [], total: 5, page: 4, page_size: 2, pages: 3 })
      const links = parseLinks(res.headers.get('link'))
      expect(links.next).toBeUndefined()
      expect(new URL(links.last as string, 'http://x').searchParams.get('page')).toBe('3')
    })

    test('§3 invalid page, page_size and include_revoked are 422 with a pointer, never ignored', async () => {
      const cases: Array<[string, string]> = [
        ['page_size=0', '/query/page_size'],
        ['page_size=101', '/query/page_size'],
        ['page_size=abc', '/query/page_size'],
        ['page_size=2.5', '/query/page_size'],
        ['page=0', '/query/page'],
        ['page=-3', '/query/page'],
        ['page=first', '/query/page'],
        ['include_revoked=maybe', '/query/include_revoked'],
        ['include_revokd=true', '/query/include_revokd'],
      ]
      for (const [query, pointer] of cases) {
        const res = await list(query)
        expectProblem(res, 422, 'validation_failed')
        expect({ query, pointers: pointersOf(res) }).toEqual({ query, pointers: [pointer] })
      }
      // The limits themselves are valid.
      expect((await list('page_size=100')).status).toBe(200)
      expect((await list('page_size=1')).body).toMatchObject({ total: 5, pages: 5 })
    })

    test('§7 GET /auth/sessions needs a credential', async () => {
      expectProblem(await h().call('GET', SESSIONS), 401, 'unauthenticated')
    })

    test('§7 another user’s session is 404 to revoke (no existence leak), and it stays active', async () => {
      const target = carolPairs[0] as TokenPair
      const res = await revoke(target.session_id, malloryPair.access_token)
      expectProblem(res, 404, 'not_found')
      const missing = await revoke(crypto.randomUUID(), malloryPair.access_token)
      expectProblem(missing, 404, 'not_found')
      const { instance: _a, ...foreign } = problemWithoutRequest(res)
      const { instance: _b, ...unknown } = problemWithoutRequest(missing)
      expect(foreign).toEqual(unknown)
      const [row] = await h()
        .database.handle.db.select()
        .from(userSessions)
        .where(eq(userSessions.id, target.session_id))
      expect(row?.revokedAt).toBeNull()
      expect((await h().call('GET', ME, { token: target.access_token })).status).toBe(200)
      expect(await auditRows(h(), 'session.revoke', `session:${target.session_id}`)).toHaveLength(0)
    })

    test('§7 a session id that is not a UUID is 422', async () => {
      const res = await revoke('12345')
      expectProblem(res, 422, 'validation_failed')
      expect(pointersOf(res)).toEqual(['/params/id'])
    })

    test('§7 POST /auth/sessions/{id}/revoke is 200 with the session; its tokens are 401 at once', async () => {
      const target = carolPairs[0] as TokenPair
      const res = await revoke(target.session_id)
      expect(res.status).toBe(200)
      expect(res.body).toEqual(
        expect.objectContaining({
          id: target.session_id,
          revoked_at: expect.stringMatching(ISO_UTC),
          is_current: false,
          user_agent: 'agent-1',
        }),
      )
      expectProblem(await h().call('GET', ME, { token: target.access_token }), 401, 'unauthenticated')
      const refresh = await h().call('POST', '/api/v1/auth/refresh', {
        body: { refresh_token: target.refresh_token },
      })
      expect(refresh.status).toBe(401)

      const audit = await auditRows(h(), 'session.revoke', `session:${target.session_id}`)
      expect(audit).toHaveLength(1)
      expect(audit[0]?.actorId).toBe(carol.id)
    })

    test('§7 revoking twice is harmless: 200 again, same revoked_at, still revoked', async () => {
      const target = carolPairs[0] as TokenPair
      const [before] = await h()
        .database.handle.db.select()
        .from(userSessions)
        .where(eq(userSessions.id, target.session_id))
      const res = await revoke(target.session_id)
      expect(res.status).toBe(200)
      expect(res.body.id).toBe(target.session_id)
      expect(res.body.revoked_at).toBe(before?.revokedAt?.toISOString())
      expect(await auditRows(h(), 'session.revoke', `session:${target.session_id}`)).toHaveLength(1)
    })

    test('§7 revoked sessions leave the default list and show with include_revoked=true', async () => {
      const revokedId = (carolPairs[0] as TokenPair).session_id
      const active = await list()
      expect(active.body.total).toBe(4)
      expect(active.body.items.map((item: { id: string }) => item.id)).not.toContain(revokedId)
      expect((await list('include_revoked=false')).body.total).toBe(4)

      const all = await list('include_revoked=true')
      expect(all.body.total).toBe(5)
      expect(all.body.items.map((item: { id: string }) => item.id)).toEqual(newestFirst())
      const revoked = all.body.items.find((item: { id: string }) => item.id === revokedId)
      expect(revoked.revoked_at).toMatch(ISO_UTC)
      // The Link header keeps the filter.
      for (const target of Object.values(parseLinks(all.headers.get('link')))) {
        expect(new URL(target, 'http://x').searchParams.get('include_revoked')).toBe('true')
      }
    })

    test('§7 revoke-others returns revoked_count; the current session survives, the others are 401', async () => {
      const res = await h().call('POST', `${SESSIONS}/revoke-others`, { token: current.access_token })
      expect(res.status).toBe(200)
      expect(res.body).toEqual({ revoked_count: 3 })

      expect((await h().call('GET', ME, { token: current.access_token })).status).toBe(200)
      for (const pair of carolPairs.filter((pair) => pair !== current)) {
        expectProblem(await h().call('GET', ME, { token: pair.access_token }), 401, 'unauthenticated')
      }
      const left = await list()
      expect(left.body.total).toBe(1)
      expect(left.body.items[0]).toMatchObject({ id: current.session_id, is_current: true })
      // Someone else's sessions are untouched.
      expect((await h().call('GET', ME, { token: malloryPair.access_token })).status).toBe(200)

      const audit = await auditRows(h(), 'session.revoke_others', `user:${carol.id}`)
      expect(audit).toHaveLength(1)
      expect(audit[0]?.actorId).toBe(carol.id)
    })

    test('§7 revoke-others with nothing left to revoke is {revoked_count: 0}', async () => {
      const res = await h().call('POST', `${SESSIONS}/revoke-others`, { token: current.access_token })
      expect(res.status).toBe(200)
      expect(res.body).toEqual({ revoked_count: 0 })
      expect((await h().call('GET', ME, { token: current.access_token })).status).toBe(200)
    })

    test('§7 revoking the current session ends it like logout', async () => {
      const res = await revoke(current.session_id)
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ id: current.session_id, is_current: true })
      expectProblem(await h().call('GET', ME, { token: current.access_token }), 401, 'unauthenticated')
    })
  },
  { env: GENEROUS_RATE_LIMITS },
)
