import { beforeAll, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { describeEachDatabase } from '../support/app'
import { parseLinks } from '../support/identity'
import { createSignedInUser, type TestUser } from '../support/users'

/**
 * CONTRACT §3 at any depth (issue 7): totals come from trigger-kept counters and stay exact, the
 * Link next/prev URLs seek from an item instead of skipping rows, and pages past the middle are
 * read from the far end. Every page must hold exactly what the list order puts there.
 */
const PROJECTS = 2_345
const PAGE_SIZE = 100

describeEachDatabase('list pages at any depth', (h) => {
  let owner: TestUser
  let staff: TestUser
  let author: TestUser

  beforeAll(async () => {
    ;[owner, staff, author] = (await Promise.all([
      createSignedInUser(h(), 'user'),
      createSignedInUser(h(), 'staff'),
      createSignedInUser(h(), 'user'),
    ])) as [TestUser, TestUser, TestUser]
    // Three projects share each second, so the id decides their order (created_at desc, id desc).
    await rows(sql`insert into projects (owner_id, name, created_at, updated_at)
      select ${owner.id}, 'deep ' || g, now() - (g / 3) * interval '1 second', now()
      from generate_series(1, ${PROJECTS}) as g`)
    await rows(sql`insert into projects (owner_id, name) values (${staff.id}, 'someone else’s')`)
  }, 30_000)

  const rows = <T extends Record<string, unknown>>(query: ReturnType<typeof sql>) =>
    h().database.handle.rows<T>(query)
  const ownerIds = async () =>
    (
      await rows<{ id: string }>(
        sql`select id from projects where owner_id = ${owner.id} order by created_at desc, id desc`,
      )
    ).map((row) => row.id)
  const get = (path: string, token = owner.token) => h().call('GET', path, { token })
  const ids = <Id = string>(body: { items: { id: Id }[] }) => body.items.map((item) => item.id)

  test('CONTRACT §3: following Link rel="next" reads every item once, in order, each page by seeking after the last', async () => {
    const expected = await ownerIds()
    const seen: string[] = []
    let next: string | undefined = `/api/v1/projects?page_size=${PAGE_SIZE}`
    let pages = 0
    while (next) {
      const res = await get(next)
      expect(res.status).toBe(200)
      expect(res.body.total).toBe(PROJECTS)
      seen.push(...ids(res.body))
      pages += 1
      next = parseLinks(res.headers.get('link')).next
      if (next) {
        const params = new URL(next, 'http://x').searchParams
        expect(params.get('after')).toBe(seen.at(-1) as string)
        expect(Number(params.get('page'))).toBe(pages + 1)
      }
    }
    expect(pages).toBe(Math.ceil(PROJECTS / PAGE_SIZE))
    expect(seen).toEqual(expected)
  })

  test('CONTRACT §3: following Link rel="prev" from the last page reads the list back to the first', async () => {
    const expected = await ownerIds()
    const first = await get(`/api/v1/projects?page_size=${PAGE_SIZE}`)
    let target: string | undefined = parseLinks(first.headers.get('link')).last
    const pages: string[][] = []
    while (target) {
      const res = await get(target)
      expect(res.status).toBe(200)
      pages.unshift(ids(res.body))
      target = parseLinks(res.headers.get('link')).prev
    }
    expect(pages.flat()).toEqual(expected)
  })

  test('CONTRACT §3: any page number holds what the order puts there: near the start, deep, past the middle, last, past the end', async () => {
    const expected = await ownerIds()
    const last = Math.ceil(PROJECTS / PAGE_SIZE)
    for (const pageNumber of [1, 2, 11, 12, 13, 20, last - 1, last, last + 1, 1000]) {
      const res = await get(`/api/v1/projects?page=${pageNumber}&page_size=${PAGE_SIZE}`)
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ total: PROJECTS, page: pageNumber, page_size: PAGE_SIZE, pages: last })
      expect(ids(res.body)).toEqual(expected.slice((pageNumber - 1) * PAGE_SIZE, pageNumber * PAGE_SIZE))
    }
  })

  test('CONTRACT §3: a seek from an item outside the list (deleted, or another owner’s) falls back to the page number', async () => {
    const expected = await ownerIds()
    const page5 = expected.slice(4 * PAGE_SIZE, 5 * PAGE_SIZE)
    const [foreign] = await rows<{ id: string }>(sql`select id from projects where owner_id = ${staff.id}`)
    for (const stale of [crypto.randomUUID(), foreign?.id as string]) {
      for (const seek of ['after', 'before']) {
        const res = await get(`/api/v1/projects?page=5&page_size=${PAGE_SIZE}&${seek}=${stale}`)
        expect(res.status).toBe(200)
        expect(ids(res.body)).toEqual(page5)
      }
    }
  })

  test('CONTRACT §3: a seek with a malformed id, or both after and before, is 422 and never ignored', async () => {
    for (const [query, pointer] of [
      ['after=12', '/query/after'],
      ['before=not-an-id', '/query/before'],
      [`after=${crypto.randomUUID()}&before=${crypto.randomUUID()}`, '/query/before'],
    ] as const) {
      const res = await get(`/api/v1/projects?${query}`)
      expect(res.status).toBe(422)
      expect(res.body.code).toBe('validation_failed')
      expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual([pointer])
    }
    const posts = await h().call('GET', '/api/v1/community/posts?after=0')
    expect(posts.status).toBe(422)
    expect(posts.body.errors[0].pointer).toBe('/query/after')
  })

  test('CONTRACT §3: community posts page by seeking too, and their public total counts published posts only', async () => {
    await rows(sql`insert into community_posts (author_id, title, content, status, created_at)
      select ${author.id}, 'post ' || g, 'text', case when g % 5 = 0 then 'hidden' else 'published' end,
        now() - (g / 2) * interval '1 second'
      from generate_series(1, 250) as g`)
    const published = (
      await rows<{ id: number }>(
        sql`select id from community_posts where status = 'published' order by created_at desc, id desc`,
      )
    ).map((row) => row.id)
    const seen: number[] = []
    let next: string | undefined = '/api/v1/community/posts?page_size=30'
    while (next) {
      const res: Awaited<ReturnType<typeof get>> = await h().call('GET', next)
      expect(res.status).toBe(200)
      expect(res.body.total).toBe(published.length)
      seen.push(...ids<number>(res.body))
      next = parseLinks(res.headers.get('link')).next
      if (next) expect(new URL(next, 'http://x').searchParams.get('after')).toBe(String(seen.at(-1)))
    }
    expect(seen).toEqual(published)
  })

  test('CONTRACT §3: totals stay exact through creates (concurrent ones too), deletes, moderation, owner changes and TRUNCATE', async () => {
    const total = async (path: string, token?: string) => (await h().call('GET', path, { token })).body.total
    const count = async (where: ReturnType<typeof sql>) =>
      Number((await rows<{ n: number | string }>(sql`select count(*) as n from ${where}`))[0]?.n)
    const expectTotals = async () => {
      expect(await total('/api/v1/projects', owner.token)).toBe(
        await count(sql`projects where owner_id = ${owner.id}`),
      )
      expect(await total('/api/v1/projects', staff.token)).toBe(await count(sql`projects`))
      expect(await total(`/api/v1/projects?owner_id=${owner.id}`, staff.token)).toBe(
        await count(sql`projects where owner_id = ${owner.id}`),
      )
      expect(await total('/api/v1/community/posts')).toBe(
        await count(sql`community_posts where status = 'published'`),
      )
      expect(await total('/api/v1/community/posts', staff.token)).toBe(await count(sql`community_posts`))
      for (const status of ['pending', 'published', 'hidden', 'rejected']) {
        expect(await total(`/api/v1/community/posts?status=${status}`, staff.token)).toBe(
          await count(sql`community_posts where status = ${status}`),
        )
      }
      // Every counted scope agrees with its table, not only the ones asked for above.
      const drift = await rows(sql`
        with counted as (select scope, sum(n) as n from list_counts group by scope),
        actual as (
          select 'projects' as scope, count(*) as n from projects
          union all select 'projects:owner:' || owner_id, count(*) from projects group by owner_id
          union all select 'posts', count(*) from community_posts
          union all select 'posts:status:' || status, count(*) from community_posts group by status)
        select scope from counted full join actual using (scope)
        where coalesce(counted.n, 0) <> coalesce(actual.n, 0)`)
      expect(drift).toEqual([])
    }

    await expectTotals()
    const created = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        h().call('POST', '/api/v1/projects', { token: owner.token, body: { name: `concurrent ${i}` } }),
      ),
    )
    expect(created.map((res) => res.status)).toEqual(Array(40).fill(201))
    await expectTotals()

    for (const res of created.slice(0, 5)) {
      expect(
        (await h().call('DELETE', `/api/v1/projects/${res.body.id}`, { token: owner.token })).status,
      ).toBe(204)
    }
    const post = await h().call('POST', '/api/v1/community/posts', {
      token: author.token,
      body: { title: 'to moderate', content: 'text' },
    })
    expect(post.status).toBe(201)
    const moderated = await h().call('PATCH', `/api/v1/community/posts/${post.body.id}`, {
      token: staff.token,
      body: { status: 'rejected', moderation_reason: 'test' },
    })
    expect(moderated.status).toBe(200)
    await rows(sql`update projects set owner_id = ${staff.id} where id = ${created[5]?.body.id}`)
    await rows(sql`update projects set name = 'renamed, same owner' where id = ${created[6]?.body.id}`)
    await expectTotals()

    await rows(sql`truncate community_posts cascade`)
    await expectTotals()
  }, 30_000)
})
