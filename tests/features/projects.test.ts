import { beforeAll, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { auditLog, projects, users } from '../../db/schema'
import { describeEachDatabase, type Harness } from '../support/app'
import { createCallers, createSignedInUser, type TestUser } from '../support/users'

/** CONTRACT §8 Projects, §2 problems, §3 pagination. */
describeEachDatabase('projects', (h) => {
  let c: Awaited<ReturnType<typeof createCallers>>
  /** Owns only the projects of the list tests, so their totals and orders are exact. */
  let lister: TestUser

  beforeAll(async () => {
    c = await createCallers(h())
    lister = await createSignedInUser(h(), 'user')
  }, 30_000)

  const db = () => h().database.handle.db
  const create = async (owner: TestUser, body: Record<string, unknown>) => {
    const res = await h().call('POST', '/api/v1/projects', { token: owner.token, body })
    expect(res.status).toBe(201)
    return res.body
  }
  const rowOf = async (id: string) => (await db().select().from(projects).where(eq(projects.id, id)))[0]
  const countProjects = async (ownerId: string) =>
    (await db().select().from(projects).where(eq(projects.ownerId, ownerId))).length
  const auditFor = (id: string) =>
    db()
      .select()
      .from(auditLog)
      .where(eq(auditLog.target, `project:${id}`))

  const expectProblem = (res: Awaited<ReturnType<Harness['call']>>, status: number, code: string) => {
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toContain('application/problem+json')
    expect(res.body.code).toBe(code)
  }

  test('every route needs authentication: anonymous callers get 401', async () => {
    const id = crypto.randomUUID()
    for (const [method, path, body] of [
      ['GET', '/api/v1/projects', undefined],
      ['POST', '/api/v1/projects', { name: 'x' }],
      ['GET', `/api/v1/projects/${id}`, undefined],
      ['PATCH', `/api/v1/projects/${id}`, { name: 'x' }],
      ['DELETE', `/api/v1/projects/${id}`, undefined],
    ] as const) {
      expectProblem(await h().call(method, path, { body }), 401, 'unauthenticated')
    }
  })

  test('POST /projects creates a project owned by the caller: 201, Location, the contract shape', async () => {
    const res = await h().call('POST', '/api/v1/projects', {
      token: c.user.token,
      body: { name: '  Apollo  ', description: 'To the moon' },
    })
    expect(res.status).toBe(201)
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'Apollo',
      description: 'To the moon',
      owner_id: c.user.id,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      updated_at: res.body.created_at,
    })
    expect(Object.keys(res.body)).not.toContain('version')
    expect(res.headers.get('location')).toBe(`/api/v1/projects/${res.body.id}`)

    const fetched = await h().call('GET', res.headers.get('location') as string, { token: c.user.token })
    expect(fetched.status).toBe(200)
    expect(fetched.body).toEqual(res.body)
    expect((await rowOf(res.body.id))?.ownerId).toBe(c.user.id)
  })

  test('description is optional (null when left out) and the limits 200 / 5000 are inclusive', async () => {
    const bare = await create(c.user, { name: 'No description' })
    expect(bare.description).toBeNull()
    const full = await create(c.user, { name: 'n'.repeat(200), description: 'd'.repeat(5000) })
    expect(full.name).toHaveLength(200)
    expect(full.description).toHaveLength(5000)
    const explicitNull = await create(c.user, { name: 'Null description', description: null })
    expect(explicitNull.description).toBeNull()
  })

  test('invalid bodies are 422 validation_failed with a pointer, and nothing is written', async () => {
    const before = await countProjects(c.otherUser.id)
    for (const [body, pointer] of [
      [{}, '/body/name'],
      [{ name: '' }, '/body/name'],
      [{ name: '   ' }, '/body/name'],
      [{ name: 'n'.repeat(201) }, '/body/name'],
      [{ name: 42 }, '/body/name'],
      [{ name: 'ok', description: 'd'.repeat(5001) }, '/body/description'],
      [{ name: 'ok', owner_id: c.user.id }, '/body/owner_id'],
      [{ name: 'ok', version: 3 }, '/body/version'],
    ] as const) {
      const res = await h().call('POST', '/api/v1/projects', { token: c.otherUser.token, body })
      expectProblem(res, 422, 'validation_failed')
      expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer)
    }
    expect(await countProjects(c.otherUser.id)).toBe(before)
  })

  test('others’ projects are 404 to users (GET, PATCH, DELETE), and stay unchanged', async () => {
    const theirs = await create(c.otherUser, { name: 'Private', description: 'secret' })
    const path = `/api/v1/projects/${theirs.id}`
    expectProblem(await h().call('GET', path, { token: c.user.token }), 404, 'not_found')
    expectProblem(
      await h().call('PATCH', path, { token: c.user.token, body: { name: 'Mine now' } }),
      404,
      'not_found',
    )
    expectProblem(await h().call('DELETE', path, { token: c.user.token }), 404, 'not_found')
    const row = await rowOf(theirs.id)
    expect(row?.name).toBe('Private')
    expect(row?.version).toBe(1)
    expect(await auditFor(theirs.id)).toEqual([])

    // An id that does not exist answers exactly like someone else's.
    const missing = await h().call('GET', `/api/v1/projects/${crypto.randomUUID()}`, { token: c.user.token })
    expectProblem(missing, 404, 'not_found')
    const hidden = await h().call('GET', path, { token: c.user.token })
    expect(hidden.body.detail).toBe(missing.body.detail)
  })

  test('staff and admin see and read every project', async () => {
    const theirs = await create(c.otherUser, { name: 'Visible to staff' })
    for (const caller of [c.staff, c.admin]) {
      const res = await h().call('GET', `/api/v1/projects/${theirs.id}`, { token: caller.token })
      expect(res.status).toBe(200)
      expect(res.body).toEqual(theirs)
      const list = await h().call('GET', '/api/v1/projects?page_size=100', { token: caller.token })
      expect(list.body.items.map((p: { id: string }) => p.id)).toContain(theirs.id)
    }
  })

  test('GET /projects/{id} reads the row with the session: a role change or a revocation bites at once', async () => {
    const theirs = await create(c.otherUser, { name: 'Read with the session' })
    const path = `/api/v1/projects/${theirs.id}`
    const reader = await createSignedInUser(h(), 'staff')
    expect((await h().call('GET', path, { token: reader.token })).status).toBe(200)
    await db().update(users).set({ role: 'user' }).where(eq(users.id, reader.id))
    expectProblem(await h().call('GET', path, { token: reader.token }), 404, 'not_found')
    expect((await h().call('POST', '/api/v1/auth/logout', { token: reader.token })).status).toBe(204)
    expectProblem(await h().call('GET', path, { token: reader.token }), 401, 'unauthenticated')
  }, 30_000)

  test('a malformed id in the path is 422 pointing at /params/id', async () => {
    const res = await h().call('GET', '/api/v1/projects/not-a-uuid', { token: c.user.token })
    expectProblem(res, 422, 'validation_failed')
    expect(res.body.errors[0].pointer).toBe('/params/id')
  })

  test('GET /projects lists only the caller’s own projects, newest first (created_at desc, id desc)', async () => {
    // Fixed timestamps make the order exact: two share a created_at, so the id breaks the tie.
    const names = ['L-alpha', 'L-bravo', 'L-charlie', 'L-delta', 'L-echo']
    const created = []
    for (const name of names) created.push(await create(lister, { name }))
    const stamps = [
      '2026-01-01T00:00:00Z',
      '2026-01-03T00:00:00Z',
      '2026-01-02T00:00:00Z',
      '2026-01-02T00:00:00Z',
    ]
    for (const [i, stamp] of stamps.entries()) {
      await db()
        .update(projects)
        .set({ createdAt: new Date(stamp), updatedAt: new Date(`2026-02-0${5 - i}T00:00:00Z`) })
        .where(eq(projects.id, created[i].id))
    }
    await db()
      .update(projects)
      .set({ createdAt: new Date('2025-12-31T00:00:00Z'), updatedAt: new Date('2026-02-09T00:00:00Z') })
      .where(eq(projects.id, created[4].id))
    await create(c.otherUser, { name: 'L-not-listers' })

    const res = await h().call('GET', '/api/v1/projects', { token: lister.token })
    expect(res.status).toBe(200)
    expect(res.body.total).toBe(5)
    const [tieHigh, tieLow] = [created[2].id, created[3].id].sort().reverse()
    expect(res.body.items.map((p: { id: string }) => p.id)).toEqual([
      created[1].id,
      tieHigh,
      tieLow,
      created[0].id,
      created[4].id,
    ])
    expect(res.body.items.every((p: { owner_id: string }) => p.owner_id === lister.id)).toBe(true)
  })

  test('sort accepts created_at, updated_at and name, each with - for descending', async () => {
    const list = async (sort: string) => {
      const res = await h().call('GET', `/api/v1/projects?sort=${sort}&page_size=100`, {
        token: lister.token,
      })
      expect(res.status).toBe(200)
      return res.body.items.map((p: { name: string }) => p.name)
    }
    expect(await list('name')).toEqual(['L-alpha', 'L-bravo', 'L-charlie', 'L-delta', 'L-echo'])
    expect(await list('-name')).toEqual(['L-echo', 'L-delta', 'L-charlie', 'L-bravo', 'L-alpha'])
    expect(await list('updated_at')).toEqual(['L-delta', 'L-charlie', 'L-bravo', 'L-alpha', 'L-echo'])
    expect(await list('-updated_at')).toEqual(['L-echo', 'L-alpha', 'L-bravo', 'L-charlie', 'L-delta'])
    const ascending = await list('created_at')
    expect(ascending[0]).toBe('L-echo')
    expect(ascending[1]).toBe('L-alpha')
    expect(ascending[4]).toBe('L-bravo')
  })

  test('pages: page_size, true total and pages, Link header, and a page past the end is empty', async () => {
    const res = await h().call('GET', '/api/v1/projects?sort=name&page=2&page_size=2', {
      token: lister.token,
    })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ total: 5, page: 2, page_size: 2, pages: 3 })
    expect(res.body.items.map((p: { name: string }) => p.name)).toEqual(['L-charlie', 'L-delta'])
    const link = res.headers.get('link') ?? ''
    for (const rel of ['first', 'prev', 'next', 'last']) expect(link).toContain(`rel="${rel}"`)
    expect(link).toContain('sort=name')

    const past = await h().call('GET', '/api/v1/projects?page=9&page_size=2', { token: lister.token })
    expect(past.status).toBe(200)
    expect(past.body).toEqual({ items: [], total: 5, page: 9, page_size: 2, pages: 3 })
  })

  test('q filters on the name, case-insensitively, with % and _ matching themselves', async () => {
    const owner = c.admin
    await create(owner, { name: 'Q-Rocket 100% done' })
    await create(owner, { name: 'Q-rocket 1000 done' })
    await create(owner, { name: "Q-O'Brien_x" })
    await create(owner, { name: 'Q-OBrienax' })
    const names = async (q: string) => {
      const res = await h().call('GET', `/api/v1/projects?q=${encodeURIComponent(q)}&sort=name`, {
        token: owner.token,
      })
      expect(res.status).toBe(200)
      return res.body.items.map((p: { name: string }) => p.name)
    }
    expect(await names('q-ROCKET')).toEqual(['Q-Rocket 100% done', 'Q-rocket 1000 done'])
    expect(await names('100%')).toEqual(['Q-Rocket 100% done'])
    expect(await names("o'brien_")).toEqual(["Q-O'Brien_x"])
    expect(await names('no such project')).toEqual([])
  })

  test('staff and admin may filter by owner_id; a user may pass only their own', async () => {
    const forStaff = await h().call('GET', `/api/v1/projects?owner_id=${lister.id}&page_size=100`, {
      token: c.staff.token,
    })
    expect(forStaff.status).toBe(200)
    expect(forStaff.body.total).toBe(5)
    expect(forStaff.body.items.every((p: { owner_id: string }) => p.owner_id === lister.id)).toBe(true)

    const own = await h().call('GET', `/api/v1/projects?owner_id=${lister.id}`, { token: lister.token })
    expect(own.status).toBe(200)
    expect(own.body.total).toBe(5)

    const others = await h().call('GET', `/api/v1/projects?owner_id=${c.user.id}`, { token: lister.token })
    expectProblem(others, 422, 'validation_failed')
    expect(others.body.errors).toEqual([{ pointer: '/query/owner_id', detail: expect.any(String) }])
  })

  test('invalid page, page_size, sort, owner_id, q and unknown parameters are 422, never ignored', async () => {
    for (const [query, pointer] of [
      ['page=0', '/query/page'],
      ['page=abc', '/query/page'],
      ['page_size=0', '/query/page_size'],
      ['page_size=101', '/query/page_size'],
      ['sort=owner_id', '/query/sort'],
      ['sort=-', '/query/sort'],
      ['owner_id=bob', '/query/owner_id'],
      ['q=', '/query/q'],
      [`q=${'x'.repeat(201)}`, '/query/q'],
      ['colour=blue', '/query/colour'],
    ]) {
      const res = await h().call('GET', `/api/v1/projects?${query}`, { token: c.staff.token })
      expectProblem(res, 422, 'validation_failed')
      expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer)
    }
  })

  test('PATCH changes name and description, bumps updated_at and the row version (kept out of the body)', async () => {
    const project = await create(c.user, { name: 'Before', description: 'old' })
    const res = await h().call('PATCH', `/api/v1/projects/${project.id}`, {
      token: c.user.token,
      body: { name: ' After ' },
    })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      ...project,
      name: 'After',
      updated_at: expect.any(String),
    })
    expect(Date.parse(res.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(project.updated_at))
    expect((await rowOf(project.id))?.version).toBe(2)

    const cleared = await h().call('PATCH', `/api/v1/projects/${project.id}`, {
      token: c.user.token,
      body: { description: null },
    })
    expect(cleared.status).toBe(200)
    expect(cleared.body.description).toBeNull()
    expect(cleared.body.name).toBe('After')
    expect((await rowOf(project.id))?.version).toBe(3)
  })

  test('PATCH by staff or admin changes another user’s project; owner_id never changes', async () => {
    const project = await create(c.otherUser, { name: 'Triage me' })
    const byStaff = await h().call('PATCH', `/api/v1/projects/${project.id}`, {
      token: c.staff.token,
      body: { name: 'Renamed by staff' },
    })
    expect(byStaff.status).toBe(200)
    expect(byStaff.body.owner_id).toBe(c.otherUser.id)
    const byAdmin = await h().call('PATCH', `/api/v1/projects/${project.id}`, {
      token: c.admin.token,
      body: { description: 'Described by admin' },
    })
    expect(byAdmin.status).toBe(200)
    expect(byAdmin.body).toMatchObject({ name: 'Renamed by staff', description: 'Described by admin' })
  })

  test('PATCH with no field, a blank name, or an unknown field is 422 and changes nothing', async () => {
    const project = await create(c.user, { name: 'Stable', description: 'same' })
    for (const [body, pointer] of [
      [{}, '/body'],
      [{ name: '  ' }, '/body/name'],
      [{ name: 'n'.repeat(201) }, '/body/name'],
      [{ description: 'd'.repeat(5001) }, '/body/description'],
      [{ owner_id: c.otherUser.id }, '/body/owner_id'],
    ] as const) {
      const res = await h().call('PATCH', `/api/v1/projects/${project.id}`, { token: c.user.token, body })
      expectProblem(res, 422, 'validation_failed')
      expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer)
    }
    const row = await rowOf(project.id)
    expect(row).toMatchObject({ name: 'Stable', description: 'same', ownerId: c.user.id, version: 1 })
  })

  test('DELETE by the owner is 204 with no body, the project is gone, and project.delete is audited', async () => {
    const project = await create(c.user, { name: 'Doomed' })
    const res = await h().call('DELETE', `/api/v1/projects/${project.id}`, { token: c.user.token })
    expect(res.status).toBe(204)
    expect(res.text).toBe('')
    expect(await rowOf(project.id)).toBeUndefined()
    expectProblem(
      await h().call('GET', `/api/v1/projects/${project.id}`, { token: c.user.token }),
      404,
      'not_found',
    )

    const audit = await auditFor(project.id)
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({
      actorId: c.user.id,
      action: 'project.delete',
      target: `project:${project.id}`,
      details: { before: { name: 'Doomed', owner_id: c.user.id } },
    })

    // Deleting again: it no longer exists, and nothing more is audited.
    const again = await h().call('DELETE', `/api/v1/projects/${project.id}`, { token: c.user.token })
    expectProblem(again, 404, 'not_found')
    expect(await auditFor(project.id)).toHaveLength(1)
  })

  test('DELETE by staff or admin removes another user’s project and audits the actor', async () => {
    for (const actor of [c.staff, c.admin]) {
      const project = await create(c.otherUser, { name: `Removed by ${actor.role}` })
      const res = await h().call('DELETE', `/api/v1/projects/${project.id}`, { token: actor.token })
      expect(res.status).toBe(204)
      expect(await rowOf(project.id)).toBeUndefined()
      const [entry] = await auditFor(project.id)
      expect(entry).toMatchObject({
        actorId: actor.id,
        action: 'project.delete',
        details: { before: { name: `Removed by ${actor.role}`, owner_id: c.otherUser.id } },
      })
    }
  })
})
