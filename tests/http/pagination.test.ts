import { describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import { Elysia, t } from 'elysia'
import { userSessions } from '../../db/schema'
import { errors } from '../../server/http/errors'
import {
  DEFAULT_PAGE_SIZE,
  linkHeader,
  MAX_PAGE_SIZE,
  orderBy,
  page,
  pageQuery,
  pageRequest,
  respondWithPage,
  seekQuery,
  sortQuery,
} from '../../server/http/pagination'
import { requestId } from '../../server/http/request-id'
import { createLogger } from '../../server/log'
import { expectProblem, parseLinks, pointersOf } from '../support/identity'

const pageOf = (pageNumber: number, pageSize: number, total: number) =>
  page(new Array(Math.max(0, Math.min(pageSize, total - (pageNumber - 1) * pageSize))).fill(0), total, {
    page: pageNumber,
    pageSize,
    offset: (pageNumber - 1) * pageSize,
  })

const linksOf = (url: string, pageNumber: number, pageSize: number, total: number) =>
  parseLinks(linkHeader(url, pageOf(pageNumber, pageSize, total)))

const pageParam = (target: string | undefined) =>
  target === undefined ? undefined : Number(new URL(target, 'http://x').searchParams.get('page'))

describe('§3 page requests', () => {
  test('defaults are page 1 and page_size 20', () => {
    expect(DEFAULT_PAGE_SIZE).toBe(20)
    expect(MAX_PAGE_SIZE).toBe(100)
    expect(pageRequest({})).toEqual({ page: 1, pageSize: 20, offset: 0 })
  })

  test('the offset skips the earlier pages', () => {
    expect(pageRequest({ page: 3, page_size: 10 })).toEqual({ page: 3, pageSize: 10, offset: 20 })
    expect(pageRequest({ page: 1, page_size: 100 })).toEqual({ page: 1, pageSize: 100, offset: 0 })
  })
})

describe('§3 the page envelope', () => {
  test('pages is ceil(total / page_size)', () => {
    expect(pageOf(1, 20, 0)).toMatchObject({ total: 0, page: 1, page_size: 20, pages: 0 })
    expect(pageOf(1, 20, 1).pages).toBe(1)
    expect(pageOf(1, 20, 20).pages).toBe(1)
    expect(pageOf(1, 20, 21).pages).toBe(2)
    expect(pageOf(1, 3, 10).pages).toBe(4)
  })

  test('has exactly items, total, page, page_size and pages', () => {
    expect(Object.keys(pageOf(2, 5, 12)).sort()).toEqual(['items', 'page', 'page_size', 'pages', 'total'])
  })

  test('a page past the end keeps the true total and pages', () => {
    const result = page([], 7, { page: 9, pageSize: 5, offset: 40 })
    expect(result).toEqual({ items: [], total: 7, page: 9, page_size: 5, pages: 2 })
  })
})

describe('§3 RFC 8288 Link header', () => {
  const url = 'http://neoforge.test/api/v1/things?page=1&page_size=2'

  test('the first page links first, next and last, and no prev', () => {
    const links = linksOf(url, 1, 2, 5)
    expect(Object.keys(links).sort()).toEqual(['first', 'last', 'next'])
    expect(pageParam(links.first)).toBe(1)
    expect(pageParam(links.next)).toBe(2)
    expect(pageParam(links.last)).toBe(3)
  })

  test('a middle page links first, prev, next and last', () => {
    const links = linksOf(url, 2, 2, 5)
    expect(Object.keys(links).sort()).toEqual(['first', 'last', 'next', 'prev'])
    expect([links.first, links.prev, links.next, links.last].map(pageParam)).toEqual([1, 1, 3, 3])
  })

  test('the last page has no next', () => {
    const links = linksOf(url, 3, 2, 5)
    expect(Object.keys(links).sort()).toEqual(['first', 'last', 'prev'])
    expect(pageParam(links.prev)).toBe(2)
  })

  test('a single page has first and last only', () => {
    expect(Object.keys(linksOf(url, 1, 20, 5)).sort()).toEqual(['first', 'last'])
  })

  test('an empty list (pages = 0) has no last, prev or next', () => {
    expect(Object.keys(linksOf(url, 1, 20, 0))).toEqual(['first'])
    expect(Object.keys(linksOf(url, 4, 20, 0))).toEqual(['first'])
  })

  test('past the end: no next, and every link names a page that exists', () => {
    const links = linksOf(url, 9, 2, 5)
    expect(links.next).toBeUndefined()
    expect(pageParam(links.last)).toBe(3)
    for (const target of Object.values(links)) {
      expect(pageParam(target)).toBeGreaterThanOrEqual(1)
      expect(pageParam(target)).toBeLessThanOrEqual(3)
    }
  })

  test('links keep the path and every other query parameter, and carry page_size', () => {
    const links = linksOf(
      'http://neoforge.test/api/v1/things?include_revoked=true&q=a%20b&page=2&page_size=2',
      2,
      2,
      5,
    )
    for (const target of Object.values(links)) {
      expect(target.startsWith('/api/v1/things?')).toBe(true)
      const params = new URL(target, 'http://x').searchParams
      expect(params.get('include_revoked')).toBe('true')
      expect(params.get('q')).toBe('a b')
      expect(params.get('page_size')).toBe('2')
      expect(params.getAll('page')).toHaveLength(1)
    }
  })

  test('with item ids, next seeks after the last item and prev before the first; first and last never seek', () => {
    const result = { ...pageOf(3, 2, 9), items: [{ id: 'e' }, { id: 'f' }] }
    const links = parseLinks(linkHeader(`${url}&after=d`, result, { first: 'e', last: 'f' }))
    const params = (rel: string) => new URL(links[rel] as string, 'http://x').searchParams
    expect(params('next').get('after')).toBe('f')
    expect(params('next').get('before')).toBeNull()
    expect(params('next').get('page')).toBe('4')
    expect(params('prev').get('before')).toBe('e')
    expect(params('prev').get('after')).toBeNull()
    expect(params('prev').get('page')).toBe('2')
    for (const rel of ['first', 'last']) {
      expect(params(rel).get('after')).toBeNull()
      expect(params(rel).get('before')).toBeNull()
    }
    // Page 1 is as cheap as any seek: prev from page 2 is a plain page=1.
    const second = parseLinks(linkHeader(url, pageOf(2, 2, 9), { first: 'c', last: 'd' }))
    expect(new URL(second.prev as string, 'http://x').searchParams.get('before')).toBeNull()
  })

  test('respondWithPage sets Link and returns the page as it is', () => {
    const set = { headers: {} as Record<string, unknown> }
    const result = pageOf(1, 2, 5)
    const returned = respondWithPage({ request: new Request(url), set }, result)
    expect(returned).toBe(result)
    expect(set.headers.link).toBe(linkHeader(url, result))
  })
})

describe('§3 deterministic order', () => {
  const dialect = new PgDialect()
  const render = (parts: ReturnType<typeof orderBy>) => dialect.sqlToQuery(sql.join(parts, sql`, `)).sql
  const columns = { created_at: userSessions.createdAt, last_used_at: userSessions.lastUsedAt }

  test('the fallback (newest first) ends on the id, in the same direction', () => {
    expect(render(orderBy(undefined, columns, '-created_at', userSessions.id))).toBe(
      '"user_sessions"."created_at" desc, "user_sessions"."id" desc',
    )
  })

  test('an ascending sort ends on the ascending id', () => {
    expect(render(orderBy('last_used_at', columns, '-created_at', userSessions.id))).toBe(
      '"user_sessions"."last_used_at" asc, "user_sessions"."id" asc',
    )
  })
})

describe('§3 invalid page, page_size and sort are 422 problems', () => {
  const app = new Elysia()
    .use(requestId)
    .use(errors(createLogger('silent')))
    .get(
      '/things',
      ({ query, request, set }) => respondWithPage({ request, set }, page([], 0, pageRequest(query))),
      {
        query: t.Object({
          ...pageQuery,
          ...seekQuery((options) => t.String({ format: 'uuid', ...options })),
          sort: sortQuery(['name', 'created_at']),
        }),
      },
    )
  const get = async (query: string) => {
    const response = await app.handle(new Request(`http://neoforge.test/things?${query}`))
    const text = await response.text()
    return { status: response.status, headers: response.headers, body: JSON.parse(text), text }
  }

  test('valid values are accepted', async () => {
    for (const query of [
      '',
      'page=1',
      'page=5&page_size=1',
      'page_size=100',
      'sort=name',
      'sort=-created_at',
      `after=${crypto.randomUUID()}`,
    ]) {
      const res = await get(query)
      expect(res.status).toBe(200)
    }
  })

  test('the defaults show in the envelope', async () => {
    expect((await get('')).body).toEqual({ items: [], total: 0, page: 1, page_size: 20, pages: 0 })
  })

  for (const [query, pointer] of [
    ['page=0', '/query/page'],
    ['page=-1', '/query/page'],
    ['page=abc', '/query/page'],
    ['page=1.5', '/query/page'],
    ['page_size=0', '/query/page_size'],
    ['page_size=101', '/query/page_size'],
    ['page_size=abc', '/query/page_size'],
    ['page_size=', '/query/page_size'],
    ['sort=bogus', '/query/sort'],
    ['sort=--name', '/query/sort'],
    ['after=not-a-uuid', '/query/after'],
    ['before=7', '/query/before'],
    [`after=${crypto.randomUUID()}&before=${crypto.randomUUID()}`, '/query/before'],
  ] as const) {
    test(`${query} is 422 validation_failed pointing at ${pointer}`, async () => {
      const res = await get(query)
      expectProblem(res, 422, 'validation_failed')
      expect(pointersOf(res)).toEqual([pointer])
    })
  }
})
