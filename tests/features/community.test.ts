import { beforeAll, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { countAll } from '../../db/client'
import { auditLog, communityPosts, postReports } from '../../db/schema'
import { createUser } from '../../server/features/users/service'
import { describeEachDatabase, type Harness } from '../support/app'
import { createCallers, createSignedInUser, type TestUser } from '../support/users'

const POSTS = '/api/v1/community/posts'

async function signInWithoutName(h: Harness): Promise<TestUser> {
  const email = `nameless-${crypto.randomUUID().slice(0, 8)}@example.test`
  const password = 'correct horse battery staple'
  const user = await createUser(h.database.handle.db, { email, password, fullName: null })
  const res = await h.call('POST', '/api/v1/auth/token', { body: { email, password } })
  return {
    id: user.id,
    email,
    password,
    role: 'user',
    token: res.body.access_token,
    refreshToken: res.body.refresh_token,
    sessionId: res.body.session_id,
  }
}

const countPosts = async (h: Harness) =>
  (await h.database.handle.db.select({ n: countAll }).from(communityPosts))[0]?.n ?? 0

const auditOf = (h: Harness, postId: number) =>
  h.database.handle.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, 'post.moderate'), eq(auditLog.target, `post:${postId}`)))
    .orderBy(auditLog.id)

const rowOf = async (h: Harness, postId: number) =>
  (await h.database.handle.db.select().from(communityPosts).where(eq(communityPosts.id, postId)))[0]

describeEachDatabase('community posts', (h) => {
  let callers: Awaited<ReturnType<typeof createCallers>>
  let reporters: TestUser[]
  let nameless: TestUser

  beforeAll(async () => {
    ;[callers, reporters, nameless] = await Promise.all([
      createCallers(h()),
      Promise.all([1, 2, 3].map(() => createSignedInUser(h(), 'user'))),
      signInWithoutName(h()),
    ])
  }, 30_000)

  const create = async (token: string, body = { title: 'Hello forge', content: 'First post!' }) => {
    const res = await h().call('POST', POSTS, { token, body })
    expect(res.status).toBe(201)
    return res.body as { id: number; [key: string]: unknown }
  }
  const moderate = async (id: number, status: string, token = callers.staff.token) => {
    const res = await h().call('PATCH', `${POSTS}/${id}`, {
      token,
      body: { status, moderation_reason: `set to ${status}` },
    })
    expect(res.status).toBe(200)
    return res.body
  }

  test('POST /community/posts publishes at once: 201, Location, the contract shape, author_name', async () => {
    const res = await h().call('POST', POSTS, {
      token: callers.user.token,
      body: { title: 'Shape check', content: 'Body text' },
    })
    expect(res.status).toBe(201)
    expect(res.headers.get('location')).toBe(`${POSTS}/${res.body.id}`)
    expect(Object.keys(res.body).sort()).toEqual(
      [
        'author_id',
        'author_name',
        'content',
        'created_at',
        'id',
        'report_count',
        'status',
        'title',
        'updated_at',
      ].sort(),
    )
    expect(res.body).toMatchObject({
      title: 'Shape check',
      content: 'Body text',
      author_id: callers.user.id,
      status: 'published',
      report_count: 0,
    })
    expect(res.body.author_name).toMatch(/^user \d+$/)
    expect(new Date(res.body.created_at).toISOString()).toBe(res.body.created_at)

    const read = await h().call('GET', `${POSTS}/${res.body.id}`)
    expect(read.status).toBe(200)
    expect(read.body).toEqual(res.body)
  })

  test('author_name falls back to the part of the email before the @ when there is no full name', async () => {
    const post = await create(nameless.token)
    expect(post.author_name).toBe(nameless.email.split('@')[0] as string)
    const read = await h().call('GET', `${POSTS}/${post.id}`)
    expect(read.body.author_name).toBe(nameless.email.split('@')[0])
  })

  test('anonymous callers cannot post (401); invalid bodies are 422 and write nothing', async () => {
    const before = await countPosts(h())
    expect((await h().call('POST', POSTS, { body: { title: 'x', content: 'y' } })).status).toBe(401)
    for (const body of [
      { title: '', content: 'y' },
      { title: '   ', content: 'y' },
      { title: 'x', content: ' \n ' },
      { title: 'x'.repeat(201), content: 'y' },
      { title: 'x', content: '' },
      { title: 'x', content: 'y'.repeat(20_001) },
      { title: 'x' },
      { title: 'x', content: 'y', status: 'hidden' },
      { title: 'x', content: 'y', author_id: callers.otherUser.id },
    ]) {
      const res = await h().call('POST', POSTS, { token: callers.user.token, body })
      expect(res.status).toBe(422)
      expect(res.body.code).toBe('validation_failed')
      expect(res.headers.get('content-type')).toContain('application/problem+json')
    }
    expect(await countPosts(h())).toBe(before)
  })

  test('GET /community/posts is public, lists published posts only, newest first, paginated', async () => {
    const a = await create(callers.user.token, { title: 'List A', content: 'a' })
    const b = await create(callers.otherUser.token, { title: 'List B', content: 'b' })
    const hidden = await create(callers.user.token, { title: 'List hidden', content: 'h' })
    await moderate(hidden.id, 'hidden')

    const res = await h().call('GET', `${POSTS}?page_size=100`)
    expect(res.status).toBe(200)
    expect(res.headers.get('vary')).toContain('Authorization')
    const ids = res.body.items.map((item: { id: number }) => item.id)
    expect(ids).toContain(a.id)
    expect(ids).toContain(b.id)
    expect(ids).not.toContain(hidden.id)
    expect(res.body.items.every((item: { status: string }) => item.status === 'published')).toBe(true)
    expect(ids.indexOf(b.id)).toBeLessThan(ids.indexOf(a.id))
    expect(res.body.total).toBe(res.body.items.length)

    const [published] = await h()
      .database.handle.db.select({ n: countAll })
      .from(communityPosts)
      .where(eq(communityPosts.status, 'published'))
    expect(res.body.total).toBe(published?.n)

    const paged = await h().call('GET', `${POSTS}?page_size=1&page=2`, { token: callers.otherUser.token })
    expect(paged.body).toMatchObject({ page: 2, page_size: 1, total: res.body.total, pages: res.body.total })
    expect(paged.body.items).toEqual([res.body.items[1]])
    expect(paged.headers.get('link')).toContain('rel="next"')

    const past = await h().call('GET', `${POSTS}?page=9999`)
    expect(past.status).toBe(200)
    expect(past.body.items).toEqual([])
    expect(past.body.total).toBe(res.body.total)
  })

  test('only staff may filter by status or reported: 422 naming the parameter for anyone else', async () => {
    for (const token of [undefined, callers.user.token]) {
      const byStatus = await h().call('GET', `${POSTS}?status=published`, token ? { token } : {})
      expect(byStatus.status).toBe(422)
      expect(byStatus.body.errors).toEqual([{ pointer: '/query/status', detail: expect.any(String) }])
      const reported = await h().call('GET', `${POSTS}?reported=true`, token ? { token } : {})
      expect(reported.status).toBe(422)
      expect(reported.body.errors[0].pointer).toBe('/query/reported')
    }
  })

  test('invalid list parameters are 422, never ignored', async () => {
    for (const query of [
      'status=deleted',
      'reported=maybe',
      'author_id=not-a-uuid',
      'sort=title',
      'q=',
      'page=0',
      'page_size=101',
      'colour=blue',
    ]) {
      const res = await h().call('GET', `${POSTS}?${query}`, { token: callers.staff.token })
      expect(res.status, query).toBe(422)
    }
  })

  test('staff see every status and may filter by status and reported=true', async () => {
    const pending = await create(callers.user.token, { title: 'Staff filter', content: 'p' })
    await moderate(pending.id, 'rejected')
    const reported = await create(callers.user.token, { title: 'Staff reported', content: 'r' })
    expect(
      (
        await h().call('POST', `${POSTS}/${reported.id}/reports`, {
          token: callers.otherUser.token,
          body: { reason: 'spam' },
        })
      ).status,
    ).toBe(201)

    const all = await h().call('GET', `${POSTS}?page_size=100`, { token: callers.staff.token })
    const allIds = all.body.items.map((item: { id: number }) => item.id)
    expect(allIds).toContain(pending.id)

    const rejected = await h().call('GET', `${POSTS}?status=rejected&page_size=100`, {
      token: callers.admin.token,
    })
    expect(rejected.status).toBe(200)
    expect(rejected.body.items.map((item: { id: number }) => item.id)).toContain(pending.id)
    expect(rejected.body.items.every((item: { status: string }) => item.status === 'rejected')).toBe(true)

    const flagged = await h().call('GET', `${POSTS}?reported=true&page_size=100`, {
      token: callers.staff.token,
    })
    expect(flagged.body.items.map((item: { id: number }) => item.id)).toContain(reported.id)
    expect(flagged.body.items.every((item: { report_count: number }) => item.report_count > 0)).toBe(true)
  })

  test('q searches titles case-insensitively and treats % and _ literally; author_id filters', async () => {
    const tag = crypto.randomUUID().slice(0, 8)
    const hit = await create(nameless.token, { title: `Forge 100% ${tag} Tips`, content: 'x' })
    await create(nameless.token, { title: `Forge 100 ${tag} tricks`, content: 'x' })
    const res = await h().call('GET', `${POSTS}?q=${encodeURIComponent(`100% ${tag.toUpperCase()}`)}`)
    expect(res.status).toBe(200)
    expect(res.body.items.map((item: { id: number }) => item.id)).toEqual([hit.id])

    const mine = await h().call('GET', `${POSTS}?author_id=${nameless.id}&page_size=100`)
    expect(mine.body.items.length).toBeGreaterThanOrEqual(3)
    expect(mine.body.items.every((item: { author_id: string }) => item.author_id === nameless.id)).toBe(true)
  })

  test('a post that is not published is 404 to anonymous and other users, visible to its author and staff', async () => {
    const post = await create(callers.user.token, { title: 'Soon hidden', content: 'x' })
    await moderate(post.id, 'hidden')
    expect((await h().call('GET', `${POSTS}/${post.id}`)).status).toBe(404)
    expect((await h().call('GET', `${POSTS}/${post.id}`, { token: callers.otherUser.token })).status).toBe(
      404,
    )
    const own = await h().call('GET', `${POSTS}/${post.id}`, { token: callers.user.token })
    expect(own.status).toBe(200)
    expect(own.body.status).toBe('hidden')
    expect((await h().call('GET', `${POSTS}/${post.id}`, { token: callers.staff.token })).status).toBe(200)
    expect((await h().call('GET', `${POSTS}/999999`)).status).toBe(404)
    expect((await h().call('GET', `${POSTS}/99999999999`)).status).toBe(404)
    const huge = await h().call('PATCH', `${POSTS}/99999999999`, {
      token: callers.staff.token,
      body: { title: 'x' },
    })
    expect(huge.status).toBe(404)
    expect((await h().call('GET', `${POSTS}/abc`)).status).toBe(422)
    expect((await h().call('GET', `${POSTS}/0`)).status).toBe(422)
  })

  test('PATCH: the author edits title and content; others get 403 on a public post, 404 on a hidden one', async () => {
    const post = await create(callers.user.token, { title: 'Before', content: 'old' })
    const edited = await h().call('PATCH', `${POSTS}/${post.id}`, {
      token: callers.user.token,
      body: { title: 'After', content: 'new' },
    })
    expect(edited.status).toBe(200)
    expect(edited.body).toMatchObject({ id: post.id, title: 'After', content: 'new', status: 'published' })
    expect((await rowOf(h(), post.id))?.version).toBe(2)

    const other = await h().call('PATCH', `${POSTS}/${post.id}`, {
      token: callers.otherUser.token,
      body: { title: 'Hijack' },
    })
    expect(other.status).toBe(403)
    // Staff moderate; they do not rewrite other people's posts.
    const staffEdit = await h().call('PATCH', `${POSTS}/${post.id}`, {
      token: callers.staff.token,
      body: { title: 'Staff words' },
    })
    expect(staffEdit.status).toBe(403)
    // A user cannot moderate, not even their own post.
    const selfModeration = await h().call('PATCH', `${POSTS}/${post.id}`, {
      token: callers.user.token,
      body: { status: 'hidden', moderation_reason: 'mine' },
    })
    expect(selfModeration.status).toBe(403)

    await moderate(post.id, 'hidden')
    const hiddenOther = await h().call('PATCH', `${POSTS}/${post.id}`, {
      token: callers.otherUser.token,
      body: { title: 'Hijack' },
    })
    expect(hiddenOther.status).toBe(404)
    expect((await rowOf(h(), post.id))?.title).toBe('After')
    expect((await h().call('PATCH', `${POSTS}/${post.id}`, { body: { title: 'anon' } })).status).toBe(401)
  })

  test('PATCH: invalid bodies are 422 and change nothing', async () => {
    const post = await create(callers.user.token, { title: 'Stable', content: 'x' })
    const cases: [string, Record<string, unknown>, string][] = [
      [callers.user.token, {}, '/body'],
      [callers.user.token, { title: '' }, '/body/title'],
      [callers.user.token, { author_id: callers.otherUser.id }, '/body'],
      [callers.staff.token, { status: 'hidden' }, '/body/moderation_reason'],
      [callers.staff.token, { status: 'hidden', moderation_reason: '' }, '/body/moderation_reason'],
      [
        callers.staff.token,
        { status: 'hidden', moderation_reason: 'x'.repeat(501) },
        '/body/moderation_reason',
      ],
      [callers.staff.token, { status: 'deleted', moderation_reason: 'x' }, '/body/status'],
      [callers.staff.token, { moderation_reason: 'why' }, '/body/status'],
    ]
    for (const [token, body, pointer] of cases) {
      const res = await h().call('PATCH', `${POSTS}/${post.id}`, { token, body })
      expect(res.status, JSON.stringify(body)).toBe(422)
      expect(
        res.body.errors.map((error: { pointer: string }) => error.pointer).join(),
        JSON.stringify(body),
      ).toContain(pointer)
    }
    const row = await rowOf(h(), post.id)
    expect(row).toMatchObject({ title: 'Stable', status: 'published', version: 1 })
    expect(await auditOf(h(), post.id)).toEqual([])
  })

  test('moderation sets status and moderation fields and writes one post.moderate audit row; repeating it is a no-op', async () => {
    const post = await create(callers.user.token, { title: 'To moderate', content: 'x' })
    const res = await h().call('PATCH', `${POSTS}/${post.id}`, {
      token: callers.staff.token,
      body: { status: 'rejected', moderation_reason: 'off topic' },
    })
    expect(res.status).toBe(200)
    expect(res.body.status).toBe('rejected')
    const row = await rowOf(h(), post.id)
    expect(row).toMatchObject({
      status: 'rejected',
      moderationReason: 'off topic',
      moderatedBy: callers.staff.id,
      version: 2,
    })
    expect(row?.moderatedAt).toBeInstanceOf(Date)
    const audit = await auditOf(h(), post.id)
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({
      actorId: callers.staff.id,
      details: { before: { status: 'published' }, after: { status: 'rejected' }, reason: 'off topic' },
    })

    const again = await h().call('PATCH', `${POSTS}/${post.id}`, {
      token: callers.admin.token,
      body: { status: 'rejected', moderation_reason: 'still off topic' },
    })
    expect(again.status).toBe(200)
    expect(again.body.status).toBe('rejected')
    expect(await auditOf(h(), post.id)).toHaveLength(1)
    expect((await rowOf(h(), post.id))?.version).toBe(2)
  })

  test('DELETE: author or staff (204); others 403, anonymous 401; staff deletion is audited moderation', async () => {
    const own = await create(callers.user.token, { title: 'Mine to delete', content: 'x' })
    expect((await h().call('DELETE', `${POSTS}/${own.id}`)).status).toBe(401)
    expect((await h().call('DELETE', `${POSTS}/${own.id}`, { token: callers.otherUser.token })).status).toBe(
      403,
    )
    const deleted = await h().call('DELETE', `${POSTS}/${own.id}`, { token: callers.user.token })
    expect(deleted.status).toBe(204)
    expect(deleted.text).toBe('')
    expect((await h().call('GET', `${POSTS}/${own.id}`, { token: callers.user.token })).status).toBe(404)
    expect((await h().call('DELETE', `${POSTS}/${own.id}`, { token: callers.user.token })).status).toBe(404)
    expect(await auditOf(h(), own.id)).toEqual([])

    const theirs = await create(callers.otherUser.token, { title: 'Spam to remove', content: 'x' })
    expect((await h().call('DELETE', `${POSTS}/${theirs.id}`, { token: callers.staff.token })).status).toBe(
      204,
    )
    expect(await rowOf(h(), theirs.id)).toBeUndefined()
    const audit = await auditOf(h(), theirs.id)
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({
      actorId: callers.staff.id,
      details: { before: { status: 'published' }, after: { deleted: true } },
    })

    const hidden = await create(callers.otherUser.token, { title: 'Hidden one', content: 'x' })
    await moderate(hidden.id, 'hidden')
    expect((await h().call('DELETE', `${POSTS}/${hidden.id}`, { token: callers.user.token })).status).toBe(
      404,
    )
  })

  test('reports: 201 {post_id, report_count}; the author cannot report (403 cannot_report_own_post)', async () => {
    const post = await create(callers.user.token, { title: 'Reportable', content: 'x' })
    expect((await h().call('POST', `${POSTS}/${post.id}/reports`, { body: { reason: 'x' } })).status).toBe(
      401,
    )
    const own = await h().call('POST', `${POSTS}/${post.id}/reports`, {
      token: callers.user.token,
      body: { reason: 'myself' },
    })
    expect(own.status).toBe(403)
    expect(own.body.code).toBe('cannot_report_own_post')

    for (const body of [
      {},
      { reason: '' },
      { reason: '  ' },
      { reason: 'x'.repeat(501) },
      { reason: 'ok', extra: 1 },
    ]) {
      const bad = await h().call('POST', `${POSTS}/${post.id}/reports`, {
        token: callers.otherUser.token,
        body,
      })
      expect(bad.status).toBe(422)
    }
    expect((await rowOf(h(), post.id))?.reportCount).toBe(0)

    const res = await h().call('POST', `${POSTS}/${post.id}/reports`, {
      token: callers.otherUser.token,
      body: { reason: 'rude' },
    })
    expect(res.status).toBe(201)
    expect(res.body).toEqual({ post_id: post.id, report_count: 1 })
    expect((await h().call('GET', `${POSTS}/${post.id}`)).body.report_count).toBe(1)
    expect(
      (
        await h().call('POST', `${POSTS}/999999/reports`, {
          token: callers.otherUser.token,
          body: { reason: 'x' },
        })
      ).status,
    ).toBe(404)
  })

  test('a second report by the same user is 409 already_reported and does not count, even when concurrent', async () => {
    const post = await create(callers.user.token, { title: 'Double report', content: 'x' })
    const first = await h().call('POST', `${POSTS}/${post.id}/reports`, {
      token: callers.otherUser.token,
      body: { reason: 'spam' },
    })
    expect(first.status).toBe(201)
    const second = await h().call('POST', `${POSTS}/${post.id}/reports`, {
      token: callers.otherUser.token,
      body: { reason: 'spam again' },
    })
    expect(second.status).toBe(409)
    expect(second.body.code).toBe('already_reported')
    expect((await rowOf(h(), post.id))?.reportCount).toBe(1)

    const burst = await create(callers.user.token, { title: 'Burst report', content: 'x' })
    const results = await Promise.all(
      [1, 2, 3, 4].map(() =>
        h().call('POST', `${POSTS}/${burst.id}/reports`, {
          token: callers.staff.token,
          body: { reason: 'dup' },
        }),
      ),
    )
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409])
    expect((await rowOf(h(), burst.id))?.reportCount).toBe(1)
  })

  test('threshold reports hide a published post: gone from the public list and anonymous GET, audited with actor null', async () => {
    const post = await create(callers.user.token, { title: 'Reported away', content: 'x' })
    const [r1, r2, r3] = reporters as [TestUser, TestUser, TestUser]
    for (const [i, reporter] of [r1, r2].entries()) {
      const res = await h().call('POST', `${POSTS}/${post.id}/reports`, {
        token: reporter.token,
        body: { reason: 'bad' },
      })
      expect(res.body).toEqual({ post_id: post.id, report_count: i + 1 })
    }
    expect((await h().call('GET', `${POSTS}/${post.id}`)).status).toBe(200)
    const third = await h().call('POST', `${POSTS}/${post.id}/reports`, {
      token: r3.token,
      body: { reason: 'bad' },
    })
    expect(third.body).toEqual({ post_id: post.id, report_count: 3 })

    expect((await h().call('GET', `${POSTS}/${post.id}`)).status).toBe(404)
    const list = await h().call('GET', `${POSTS}?page_size=100`)
    expect(list.body.items.map((item: { id: number }) => item.id)).not.toContain(post.id)
    const forAuthor = await h().call('GET', `${POSTS}/${post.id}`, { token: callers.user.token })
    expect(forAuthor.body).toMatchObject({ status: 'hidden', report_count: 3 })
    const queue = await h().call('GET', `${POSTS}?status=hidden&reported=true&page_size=100`, {
      token: callers.staff.token,
    })
    expect(queue.body.items.map((item: { id: number }) => item.id)).toContain(post.id)

    const audit = await auditOf(h(), post.id)
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({
      actorId: null,
      details: { before: { status: 'published' }, after: { status: 'hidden' }, reason: 'report_threshold' },
    })
    // Hidden now: other users can no longer see it, so cannot report it either.
    const late = await h().call('POST', `${POSTS}/${post.id}/reports`, {
      token: callers.otherUser.token,
      body: { reason: 'late' },
    })
    expect(late.status).toBe(404)
  })

  test('concurrent reports by different users count exactly, and the threshold hides the post once', async () => {
    const post = await create(callers.user.token, { title: 'Concurrent reports', content: 'x' })
    const results = await Promise.all(
      (reporters as TestUser[]).map((reporter) =>
        h().call('POST', `${POSTS}/${post.id}/reports`, {
          token: reporter.token,
          body: { reason: 'pile-on' },
        }),
      ),
    )
    expect(results.map((r) => r.status)).toEqual([201, 201, 201])
    expect(results.map((r) => r.body.report_count).sort()).toEqual([1, 2, 3])
    const row = await rowOf(h(), post.id)
    expect(row).toMatchObject({ reportCount: 3, status: 'hidden' })
    const [reports] = await h()
      .database.handle.db.select({ n: countAll })
      .from(postReports)
      .where(eq(postReports.postId, post.id))
    expect(reports?.n).toBe(3)
    expect(await auditOf(h(), post.id)).toHaveLength(1)
  })

  test('after staff republish a hidden post, it takes threshold new reports to hide it again', async () => {
    const post = await create(callers.user.token, { title: 'Second chance', content: 'x' })
    for (const reporter of reporters) {
      await h().call('POST', `${POSTS}/${post.id}/reports`, {
        token: reporter.token,
        body: { reason: 'bad' },
      })
    }
    expect((await rowOf(h(), post.id))?.status).toBe('hidden')
    await moderate(post.id, 'published')
    const res = await h().call('POST', `${POSTS}/${post.id}/reports`, {
      token: callers.otherUser.token,
      body: { reason: 'still bad' },
    })
    expect(res.body).toEqual({ post_id: post.id, report_count: 4 })
    expect((await rowOf(h(), post.id))?.status).toBe('published')
  })

  test('GET of a post carries a strong ETag from its version; If-None-Match answers 304', async () => {
    const post = await create(callers.user.token, { title: 'Tagged', content: 'x' })
    const res = await h().call('GET', `${POSTS}/${post.id}`)
    expect(res.headers.get('etag')).toBe('"v1"')
    expect(res.headers.get('cache-control')).toBe('private, no-cache')
    const again = await h().call('GET', `${POSTS}/${post.id}`, { headers: { 'if-none-match': '"v1"' } })
    expect(again.status).toBe(304)
    expect(again.text).toBe('')
    const list = await h().call('GET', POSTS)
    expect(list.headers.get('etag')).toBeTruthy()
  })

  test('PATCH and DELETE honour If-Match: a stale tag is 412 and changes nothing', async () => {
    const post = await create(callers.user.token, { title: 'Versioned', content: 'x' })
    const stale = await h().call('PATCH', `${POSTS}/${post.id}`, {
      token: callers.user.token,
      body: { title: 'Lost update' },
      headers: { 'if-match': '"v7"' },
    })
    expect(stale.status).toBe(412)
    expect(stale.body.code).toBe('precondition_failed')
    expect(await rowOf(h(), post.id)).toMatchObject({ title: 'Versioned', version: 1 })

    const fresh = await h().call('PATCH', `${POSTS}/${post.id}`, {
      token: callers.user.token,
      body: { title: 'Applied' },
      headers: { 'if-match': '"v1"' },
    })
    expect(fresh.status).toBe(200)
    expect(fresh.headers.get('etag')).toBe('"v2"')

    const staleModeration = await h().call('PATCH', `${POSTS}/${post.id}`, {
      token: callers.staff.token,
      body: { status: 'hidden', moderation_reason: 'x' },
      headers: { 'if-match': '"v1"' },
    })
    expect(staleModeration.status).toBe(412)
    expect(await auditOf(h(), post.id)).toEqual([])

    const staleDelete = await h().call('DELETE', `${POSTS}/${post.id}`, {
      token: callers.user.token,
      headers: { 'if-match': '"v1"' },
    })
    expect(staleDelete.status).toBe(412)
    expect(await rowOf(h(), post.id)).toBeDefined()
    const deleted = await h().call('DELETE', `${POSTS}/${post.id}`, {
      token: callers.user.token,
      headers: { 'if-match': '"v2"' },
    })
    expect(deleted.status).toBe(204)
  })

  test('POST with the same Idempotency-Key creates one post and replays the 201', async () => {
    const before = await countPosts(h())
    const key = crypto.randomUUID()
    const send = () =>
      h().call('POST', POSTS, {
        token: callers.user.token,
        body: { title: 'Once only', content: 'x' },
        headers: { 'idempotency-key': key },
      })
    const first = await send()
    const second = await send()
    expect(first.status).toBe(201)
    expect(second.status).toBe(201)
    expect(second.headers.get('idempotent-replayed')).toBe('true')
    expect(second.text).toBe(first.text)
    expect(second.headers.get('location')).toBe(first.headers.get('location'))
    expect(await countPosts(h())).toBe(before + 1)
  })

  test('a report retried with the same Idempotency-Key is replayed, not counted twice', async () => {
    const post = await create(callers.user.token, { title: 'Report once', content: 'x' })
    const key = crypto.randomUUID()
    const send = () =>
      h().call('POST', `${POSTS}/${post.id}/reports`, {
        token: callers.otherUser.token,
        body: { reason: 'spam' },
        headers: { 'idempotency-key': key },
      })
    const first = await send()
    const retry = await send()
    expect(first.status).toBe(201)
    expect(retry.status).toBe(201)
    expect(retry.headers.get('idempotent-replayed')).toBe('true')
    expect(retry.body).toEqual({ post_id: post.id, report_count: 1 })
    expect((await rowOf(h(), post.id))?.reportCount).toBe(1)
  })
})

describeEachDatabase(
  'community posts with premoderation',
  (h) => {
    let author: TestUser
    let staff: TestUser
    let other: TestUser

    beforeAll(async () => {
      ;[author, staff, other] = (await Promise.all([
        createSignedInUser(h(), 'user'),
        createSignedInUser(h(), 'staff'),
        createSignedInUser(h(), 'user'),
      ])) as [TestUser, TestUser, TestUser]
    }, 30_000)

    test('COMMUNITY_PREMODERATION=true: new posts are pending, hidden from the public until staff publish them', async () => {
      const created = await h().call('POST', POSTS, {
        token: author.token,
        body: { title: 'Pending', content: 'x' },
      })
      expect(created.status).toBe(201)
      expect(created.body.status).toBe('pending')
      const id = created.body.id

      expect((await h().call('GET', `${POSTS}/${id}`)).status).toBe(404)
      expect((await h().call('GET', `${POSTS}/${id}`, { token: other.token })).status).toBe(404)
      expect((await h().call('GET', `${POSTS}/${id}`, { token: author.token })).body.status).toBe('pending')
      expect((await h().call('GET', POSTS)).body.items).toEqual([])
      expect(
        (await h().call('POST', `${POSTS}/${id}/reports`, { token: other.token, body: { reason: 'x' } }))
          .status,
      ).toBe(404)

      const queue = await h().call('GET', `${POSTS}?status=pending`, { token: staff.token })
      expect(queue.body.items.map((item: { id: number }) => item.id)).toEqual([id])

      // The author may still edit while waiting; the post stays pending.
      const edited = await h().call('PATCH', `${POSTS}/${id}`, {
        token: author.token,
        body: { content: 'y' },
      })
      expect(edited.body).toMatchObject({ content: 'y', status: 'pending' })

      const approved = await h().call('PATCH', `${POSTS}/${id}`, {
        token: staff.token,
        body: { status: 'published', moderation_reason: 'looks good' },
      })
      expect(approved.status).toBe(200)
      expect(approved.body.status).toBe('published')
      expect((await h().call('GET', `${POSTS}/${id}`)).status).toBe(200)
      expect((await h().call('GET', POSTS)).body.items.map((item: { id: number }) => item.id)).toEqual([id])
      const [audit] = await h()
        .database.handle.db.select()
        .from(auditLog)
        .where(eq(auditLog.target, `post:${id}`))
      expect(audit?.details).toEqual({
        before: { status: 'pending' },
        after: { status: 'published' },
        reason: 'looks good',
      })
    })
  },
  { env: { COMMUNITY_PREMODERATION: 'true' } },
)
