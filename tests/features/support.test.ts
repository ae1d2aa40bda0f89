import { beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { auditLog, supportTickets, type TicketStatus, ticketStatuses, users } from '../../db/schema'
import { TICKET_TRANSITIONS } from '../../server/features/support/service'
import { describeEachDatabase, type Harness } from '../support/app'
import { createCallers, createSignedInUser, type TestUser } from '../support/users'

/** The status machine exactly as CONTRACT §8 words it, written out independently of the code. */
const CONTRACT_TRANSITIONS: Record<TicketStatus, TicketStatus[]> = {
  open: ['pending', 'resolved', 'closed'],
  pending: ['open', 'resolved', 'closed'],
  resolved: ['open', 'closed'],
  closed: [],
}

/** CONTRACT §8 Support tickets, §2 problems, §3 pagination. */
describeEachDatabase('support tickets', (h) => {
  let c: Awaited<ReturnType<typeof createCallers>>
  /** A staff account that gets deactivated: it cannot be assigned. */
  let formerStaff: TestUser

  beforeAll(async () => {
    c = await createCallers(h())
    formerStaff = await createSignedInUser(h(), 'staff')
    await h().database.handle.db.update(users).set({ isActive: false }).where(eq(users.id, formerStaff.id))
  }, 30_000)

  const db = () => h().database.handle.db
  const marker = () => `m${crypto.randomUUID().slice(0, 8)}`
  const open = async (body: Record<string, unknown>, caller?: TestUser) => {
    const res = await h().call('POST', '/api/v1/support/tickets', {
      body: { email: 'someone@example.test', subject: 'Help', message: 'It broke.', ...body },
      ...(caller ? { token: caller.token } : {}),
    })
    expect(res.status).toBe(201)
    return res.body
  }
  const patch = (id: number, body: unknown, caller: TestUser = c.staff) =>
    h().call('PATCH', `/api/v1/support/tickets/${id}`, { token: caller.token, body })
  const rowOf = async (id: number) =>
    (await db().select().from(supportTickets).where(eq(supportTickets.id, id)))[0]
  const auditFor = (id: number) =>
    db()
      .select()
      .from(auditLog)
      .where(eq(auditLog.target, `ticket:${id}`))
      .orderBy(auditLog.id)
  const countTickets = async () => (await db().select({ id: supportTickets.id }).from(supportTickets)).length
  const expectProblem = (res: Awaited<ReturnType<Harness['call']>>, status: number, code: string) => {
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toContain('application/problem+json')
    expect(res.body.code).toBe(code)
  }
  /** Opens a ticket and walks it to `status` through the API (every status is one step from open). */
  const ticketIn = async (status: TicketStatus) => {
    const ticket = await open({ subject: `in ${status}` })
    if (status !== 'open') expect((await patch(ticket.id, { status })).status).toBe(200)
    return ticket
  }

  describe('POST /support/tickets', () => {
    test('anyone may open a ticket: 201, Location, status open, priority normal, no user', async () => {
      const res = await h().call('POST', '/api/v1/support/tickets', {
        body: { email: 'Visitor@Example.test', subject: '  Cannot log in  ', message: 'Details here.' },
      })
      expect(res.status).toBe(201)
      expect(res.body).toEqual({
        id: expect.any(Number),
        email: 'Visitor@Example.test',
        subject: 'Cannot log in',
        message: 'Details here.',
        status: 'open',
        priority: 'normal',
        assignee_id: null,
        user_id: null,
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        updated_at: res.body.created_at,
      })
      expect(Object.keys(res.body)).not.toContain('version')
      expect(res.headers.get('location')).toBe(`/api/v1/support/tickets/${res.body.id}`)
      expect(await rowOf(res.body.id)).toMatchObject({ status: 'open', userId: null })
    })

    test('a signed-in caller’s ticket is linked to their account, with the priority they chose', async () => {
      const ticket = await open({ priority: 'urgent' }, c.user)
      expect(ticket).toMatchObject({ user_id: c.user.id, priority: 'urgent', status: 'open' })
      const read = await h().call('GET', `/api/v1/support/tickets/${ticket.id}`, { token: c.user.token })
      expect(read.status).toBe(200)
      expect(read.body).toEqual(ticket)
    })

    test('the limits subject 200 and message 10000 are inclusive', async () => {
      const ticket = await open({ subject: 's'.repeat(200), message: 'm'.repeat(10_000) })
      expect(ticket.subject).toHaveLength(200)
      expect(ticket.message).toHaveLength(10_000)
    })

    test('invalid bodies are 422 with a pointer, and no ticket is written', async () => {
      const base = { email: 'a@example.test', subject: 'Subject', message: 'Message' }
      const before = await countTickets()
      for (const [body, pointer] of [
        [{ ...base, email: 'not-an-email' }, '/body/email'],
        [{ subject: 'x', message: 'y' }, '/body/email'],
        [{ ...base, subject: '' }, '/body/subject'],
        [{ ...base, subject: '   ' }, '/body/subject'],
        [{ ...base, subject: 's'.repeat(201) }, '/body/subject'],
        [{ ...base, message: '' }, '/body/message'],
        [{ ...base, message: 'm'.repeat(10_001) }, '/body/message'],
        [{ ...base, priority: 'critical' }, '/body/priority'],
        [{ ...base, status: 'closed' }, '/body/status'],
        [{ ...base, user_id: crypto.randomUUID() }, '/body/user_id'],
        [{ ...base, assignee_id: crypto.randomUUID() }, '/body/assignee_id'],
      ] as const) {
        const res = await h().call('POST', '/api/v1/support/tickets', { body })
        expectProblem(res, 422, 'validation_failed')
        expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer)
      }
      expect(await countTickets()).toBe(before)
    })

    test('an invalid bearer token is 401, not an anonymous ticket', async () => {
      const before = await countTickets()
      const res = await h().call('POST', '/api/v1/support/tickets', {
        token: 'not-a-token',
        body: { email: 'a@example.test', subject: 'S', message: 'M' },
      })
      expectProblem(res, 401, 'unauthenticated')
      expect(await countTickets()).toBe(before)
    })
  })

  describe('GET /support/tickets and /support/tickets/{id}', () => {
    test('listing needs authentication', async () => {
      expectProblem(await h().call('GET', '/api/v1/support/tickets'), 401, 'unauthenticated')
    })

    test('staff see every ticket; a user sees only the tickets they opened while signed in', async () => {
      const m = marker()
      const mine = await open({ subject: `${m} mine` }, c.user)
      const theirs = await open({ subject: `${m} theirs` }, c.otherUser)
      // Same email as the user's account, but opened anonymously: not theirs to see.
      const anonymous = await open({ subject: `${m} anonymous`, email: c.user.email })
      const ids = async (caller: TestUser) => {
        const res = await h().call('GET', `/api/v1/support/tickets?q=${m}&sort=created_at`, {
          token: caller.token,
        })
        expect(res.status).toBe(200)
        return res.body.items.map((t: { id: number }) => t.id)
      }
      expect(await ids(c.user)).toEqual([mine.id])
      expect(await ids(c.otherUser)).toEqual([theirs.id])
      expect(await ids(c.staff)).toEqual([mine.id, theirs.id, anonymous.id])
      expect(await ids(c.admin)).toEqual([mine.id, theirs.id, anonymous.id])
    })

    test('reading one ticket: staff and its owner only; others get 404 like a missing id', async () => {
      const ticket = await open({}, c.user)
      const anonymous = await open({})
      const path = `/api/v1/support/tickets/${ticket.id}`
      for (const caller of [c.user, c.staff, c.admin]) {
        const res = await h().call('GET', path, { token: caller.token })
        expect(res.status).toBe(200)
        expect(res.body.id).toBe(ticket.id)
      }
      const hidden = await h().call('GET', path, { token: c.otherUser.token })
      expectProblem(hidden, 404, 'not_found')
      expectProblem(
        await h().call('GET', `/api/v1/support/tickets/${anonymous.id}`, { token: c.user.token }),
        404,
        'not_found',
      )
      const missing = await h().call('GET', '/api/v1/support/tickets/2000000000', { token: c.user.token })
      expectProblem(missing, 404, 'not_found')
      expect(hidden.body.detail).toBe(missing.body.detail)
      expectProblem(await h().call('GET', path), 401, 'unauthenticated')
    })

    test('ids are positive integers: malformed ones are 422, too large ones simply do not exist (404)', async () => {
      for (const id of ['abc', '1.5', '0', '-3']) {
        const res = await h().call('GET', `/api/v1/support/tickets/${id}`, { token: c.staff.token })
        expectProblem(res, 422, 'validation_failed')
        expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/params/id'])
      }
      const huge = await h().call('GET', '/api/v1/support/tickets/99999999999', { token: c.staff.token })
      expectProblem(huge, 404, 'not_found')
      expectProblem(await patch(99_999_999_999, { priority: 'low' }), 404, 'not_found')
    })

    test('filters status, priority, assignee_id (a user id or none) and q on subject or email', async () => {
      const m = marker()
      const a = await open({ subject: `${m} Printer ON FIRE`, priority: 'urgent' })
      const b = await open({ subject: `${m} slow page`, email: `Billing-${m}@Corp.example`, priority: 'low' })
      const d = await open({ subject: `${m} other` })
      expect((await patch(a.id, { status: 'pending', assignee_id: c.staff.id })).status).toBe(200)
      expect((await patch(b.id, { assignee_id: c.admin.id })).status).toBe(200)
      const ids = async (query: string) => {
        const res = await h().call('GET', `/api/v1/support/tickets?q=${m}&sort=created_at&${query}`, {
          token: c.staff.token,
        })
        expect(res.status).toBe(200)
        expect(res.body.total).toBe(res.body.items.length)
        return res.body.items.map((t: { id: number }) => t.id)
      }
      expect(await ids('')).toEqual([a.id, b.id, d.id])
      expect(await ids('status=pending')).toEqual([a.id])
      expect(await ids('status=open')).toEqual([b.id, d.id])
      expect(await ids('status=closed')).toEqual([])
      expect(await ids('priority=urgent')).toEqual([a.id])
      expect(await ids('priority=normal')).toEqual([d.id])
      expect(await ids(`assignee_id=${c.staff.id}`)).toEqual([a.id])
      expect(await ids('assignee_id=none')).toEqual([d.id])
      expect(await ids('status=open&assignee_id=none')).toEqual([d.id])

      const search = async (q: string) => {
        const res = await h().call('GET', `/api/v1/support/tickets?q=${encodeURIComponent(q)}`, {
          token: c.staff.token,
        })
        expect(res.status).toBe(200)
        return res.body.items.map((t: { id: number }) => t.id)
      }
      expect(await search(`${m} printer on`)).toEqual([a.id])
      expect(await search(`billing-${m}@corp`)).toEqual([b.id])
    })

    test('sort=priority orders by severity (low < normal < high < urgent), not alphabetically, ties by id', async () => {
      const m = marker()
      const byPriority: Record<string, number> = {}
      for (const priority of ['high', 'low', 'urgent', 'normal']) {
        byPriority[priority] = (await open({ subject: `${m} ${priority}`, priority })).id
      }
      const lowTwin = (await open({ subject: `${m} low twin`, priority: 'low' })).id
      const list = async (sort: string) => {
        const res = await h().call('GET', `/api/v1/support/tickets?q=${m}&sort=${sort}`, {
          token: c.staff.token,
        })
        expect(res.status).toBe(200)
        return res.body.items.map((t: { id: number }) => t.id)
      }
      expect(await list('priority')).toEqual([
        byPriority.low,
        lowTwin,
        byPriority.normal,
        byPriority.high,
        byPriority.urgent,
      ])
      expect(await list('-priority')).toEqual([
        byPriority.urgent,
        byPriority.high,
        byPriority.normal,
        lowTwin,
        byPriority.low,
      ])
    })

    test('the default order is newest first; sort takes created_at and updated_at with - too', async () => {
      const m = marker()
      const first = await open({ subject: `${m} 1` })
      const second = await open({ subject: `${m} 2` })
      const third = await open({ subject: `${m} 3` })
      const stamps: [number, string][] = [
        [first.id, '2026-03-01T00:00:00Z'],
        [second.id, '2026-03-03T00:00:00Z'],
        [third.id, '2026-03-02T00:00:00Z'],
      ]
      for (const [id, stamp] of stamps) {
        await db()
          .update(supportTickets)
          .set({ createdAt: new Date(stamp), updatedAt: new Date(stamp.replace('-03-', '-04-')) })
          .where(eq(supportTickets.id, id))
      }
      await db()
        .update(supportTickets)
        .set({ updatedAt: new Date('2026-05-01T00:00:00Z') })
        .where(eq(supportTickets.id, first.id))
      const list = async (sort?: string) => {
        const res = await h().call('GET', `/api/v1/support/tickets?q=${m}${sort ? `&sort=${sort}` : ''}`, {
          token: c.staff.token,
        })
        expect(res.status).toBe(200)
        return res.body.items.map((t: { id: number }) => t.id)
      }
      expect(await list()).toEqual([second.id, third.id, first.id])
      expect(await list('-created_at')).toEqual([second.id, third.id, first.id])
      expect(await list('created_at')).toEqual([first.id, third.id, second.id])
      expect(await list('updated_at')).toEqual([third.id, second.id, first.id])
      expect(await list('-updated_at')).toEqual([first.id, second.id, third.id])
    })

    test('pages carry the true total, a Link header, and a page past the end is empty', async () => {
      const m = marker()
      for (let i = 0; i < 3; i++) await open({ subject: `${m} ${i}` })
      const res = await h().call('GET', `/api/v1/support/tickets?q=${m}&page=1&page_size=2`, {
        token: c.staff.token,
      })
      expect(res.body).toMatchObject({ total: 3, page: 1, page_size: 2, pages: 2 })
      expect(res.body.items).toHaveLength(2)
      expect(res.headers.get('link')).toContain('rel="next"')
      const past = await h().call('GET', `/api/v1/support/tickets?q=${m}&page=5&page_size=2`, {
        token: c.staff.token,
      })
      expect(past.body).toEqual({ items: [], total: 3, page: 5, page_size: 2, pages: 2 })
    })

    test('invalid filter, sort and paging values are 422, never ignored', async () => {
      for (const [query, pointer] of [
        ['status=reopened', '/query/status'],
        ['priority=critical', '/query/priority'],
        ['assignee_id=bob', '/query/assignee_id'],
        ['assignee_id=', '/query/assignee_id'],
        ['sort=subject', '/query/sort'],
        ['sort=severity', '/query/sort'],
        ['q=', '/query/q'],
        ['user_id=x', '/query/user_id'],
      ]) {
        const res = await h().call('GET', `/api/v1/support/tickets?${query}`, { token: c.staff.token })
        expectProblem(res, 422, 'validation_failed')
        expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer)
      }
      for (const [query, pointer] of [
        ['page=0', '/query/page'],
        ['page_size=101', '/query/page_size'],
      ]) {
        const res = await h().call('GET', `/api/v1/support/tickets?${query}`, { token: c.staff.token })
        expectProblem(res, 422, 'validation_failed')
        expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer)
      }
    })
  })

  describe('PATCH /support/tickets/{id}', () => {
    test('staff change priority and assignee; ticket.update audits only what changed, in before/after', async () => {
      const ticket = await open({ priority: 'low' }, c.user)
      const res = await patch(ticket.id, { priority: 'high', assignee_id: c.staff.id })
      expect(res.status).toBe(200)
      expect(res.body).toEqual({
        ...ticket,
        priority: 'high',
        assignee_id: c.staff.id,
        updated_at: expect.any(String),
      })
      expect((await rowOf(ticket.id))?.version).toBe(2)
      const audit = await auditFor(ticket.id)
      expect(audit).toHaveLength(1)
      expect(audit[0]).toMatchObject({
        actorId: c.staff.id,
        action: 'ticket.update',
        target: `ticket:${ticket.id}`,
        details: {
          before: { priority: 'low', assignee_id: null },
          after: { priority: 'high', assignee_id: c.staff.id },
        },
      })

      // An admin reassigns to themselves and resolves; then unassigns with null.
      const byAdmin = await patch(
        ticket.id,
        { status: 'resolved', assignee_id: c.admin.id, priority: 'high' },
        c.admin,
      )
      expect(byAdmin.status).toBe(200)
      expect(byAdmin.body).toMatchObject({ status: 'resolved', assignee_id: c.admin.id, priority: 'high' })
      const unassigned = await patch(ticket.id, { assignee_id: null })
      expect(unassigned.status).toBe(200)
      expect(unassigned.body.assignee_id).toBeNull()
      const [, second, third] = await auditFor(ticket.id)
      expect(second?.actorId).toBe(c.admin.id)
      expect(second?.details).toEqual({
        before: { status: 'open', assignee_id: c.staff.id },
        after: { status: 'resolved', assignee_id: c.admin.id },
      })
      expect(third?.details).toEqual({ before: { assignee_id: c.admin.id }, after: { assignee_id: null } })
    })

    test('a PATCH that changes nothing answers the ticket as it is, bumps nothing and audits nothing', async () => {
      const ticket = await open({ priority: 'high' })
      const res = await patch(ticket.id, { priority: 'high', assignee_id: null })
      expect(res.status).toBe(200)
      expect(res.body).toEqual(ticket)
      expect((await rowOf(ticket.id))?.version).toBe(1)
      expect(await auditFor(ticket.id)).toEqual([])
    })

    test('the owner may read but not change their ticket: 403, nothing written', async () => {
      const ticket = await open({}, c.user)
      const res = await patch(ticket.id, { priority: 'urgent' }, c.user)
      expectProblem(res, 403, 'forbidden')
      expect(await rowOf(ticket.id)).toMatchObject({ priority: 'normal', version: 1 })
      expect(await auditFor(ticket.id)).toEqual([])
    })

    test('another user gets 404 (no existence leak); anonymous gets 401; nothing written', async () => {
      const ticket = await open({}, c.user)
      const anonymous = await open({})
      expectProblem(await patch(ticket.id, { status: 'closed' }, c.otherUser), 404, 'not_found')
      expectProblem(await patch(anonymous.id, { status: 'closed' }, c.user), 404, 'not_found')
      expectProblem(
        await h().call('PATCH', `/api/v1/support/tickets/${ticket.id}`, { body: { status: 'closed' } }),
        401,
        'unauthenticated',
      )
      expectProblem(await patch(2_000_000_000, { status: 'closed' }), 404, 'not_found')
      for (const id of [ticket.id, anonymous.id]) {
        expect(await rowOf(id)).toMatchObject({ status: 'open', version: 1 })
        expect(await auditFor(id)).toEqual([])
      }
    })

    test('the assignee must be an active staff or admin user, else 422 at /body/assignee_id; nothing written', async () => {
      const ticket = await open({})
      for (const assignee of [c.user.id, crypto.randomUUID(), formerStaff.id]) {
        const res = await patch(ticket.id, { assignee_id: assignee, priority: 'urgent' })
        expectProblem(res, 422, 'validation_failed')
        expect(res.body.errors).toEqual([{ pointer: '/body/assignee_id', detail: expect.any(String) }])
      }
      expect(await rowOf(ticket.id)).toMatchObject({ assigneeId: null, priority: 'normal', version: 1 })
      expect(await auditFor(ticket.id)).toEqual([])
    })

    test('an empty body, unknown fields and bad values are 422; nothing written', async () => {
      const ticket = await open({})
      for (const [body, pointer] of [
        [{}, '/body'],
        [{ status: 'reopened' }, '/body/status'],
        [{ priority: 'critical' }, '/body/priority'],
        [{ assignee_id: 'bob' }, '/body/assignee_id'],
        [{ subject: 'new subject' }, '/body/subject'],
        [{ user_id: c.otherUser.id }, '/body/user_id'],
      ] as const) {
        const res = await patch(ticket.id, body)
        expectProblem(res, 422, 'validation_failed')
        expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer)
      }
      expect(await rowOf(ticket.id)).toMatchObject({ status: 'open', version: 1 })
      expect(await auditFor(ticket.id)).toEqual([])
    })

    test('a refused transition changes none of the fields sent with it', async () => {
      const ticket = await ticketIn('closed')
      const auditBefore = await auditFor(ticket.id)
      const rowBefore = await rowOf(ticket.id)
      const res = await patch(ticket.id, { status: 'open', priority: 'urgent', assignee_id: c.staff.id })
      expectProblem(res, 409, 'invalid_transition')
      expect(await rowOf(ticket.id)).toEqual(rowBefore)
      expect(await auditFor(ticket.id)).toEqual(auditBefore)
    })

    test('the 409 names from, to and the allowed targets', async () => {
      const ticket = await ticketIn('resolved')
      const res = await patch(ticket.id, { status: 'pending' })
      expectProblem(res, 409, 'invalid_transition')
      expect(res.body.detail).toContain('resolved')
      expect(res.body.detail).toContain('pending')
      expect(res.body.detail).toContain('open, closed')
      expect(res.body).toMatchObject({ from: 'resolved', to: 'pending', allowed: ['open', 'closed'] })
    })

    test('TICKET_TRANSITIONS is the contract’s status machine', () => {
      expect(TICKET_TRANSITIONS).toEqual(CONTRACT_TRANSITIONS)
    })

    // The whole 4x4 matrix, through the API: every allowed move succeeds and is audited; every other
    // one (staying put included) is 409 invalid_transition and leaves the ticket and the log alone.
    for (const from of ticketStatuses) {
      for (const to of ticketStatuses) {
        const allowed = CONTRACT_TRANSITIONS[from].includes(to)
        test(`${from} -> ${to} is ${allowed ? 'allowed' : 'refused with 409 invalid_transition'}`, async () => {
          const ticket = await ticketIn(from)
          const rowBefore = await rowOf(ticket.id)
          const auditBefore = await auditFor(ticket.id)
          const res = await patch(ticket.id, { status: to })
          if (allowed) {
            expect(res.status).toBe(200)
            expect(res.body.status).toBe(to)
            expect((await rowOf(ticket.id))?.version).toBe((rowBefore?.version ?? 0) + 1)
            const audit = await auditFor(ticket.id)
            expect(audit).toHaveLength(auditBefore.length + 1)
            expect(audit.at(-1)?.details).toEqual({ before: { status: from }, after: { status: to } })
          } else {
            expectProblem(res, 409, 'invalid_transition')
            expect(res.body).toMatchObject({ from, to, allowed: CONTRACT_TRANSITIONS[from] })
            expect(await rowOf(ticket.id)).toEqual(rowBefore)
            expect(await auditFor(ticket.id)).toEqual(auditBefore)
          }
        })
      }
    }
  })
})
