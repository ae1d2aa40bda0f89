import { expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { users } from '../../../db/schema'
import { describeEachDatabase } from '../../support/app'
import {
  expectProblem,
  GENEROUS_RATE_LIMITS,
  ISO_UTC,
  JSON_UTF8,
  pointersOf,
  rowCounts,
  SLOW,
  UUID,
  uniqueEmail,
} from '../../support/identity'

const REGISTER = '/api/v1/auth/register'

describeEachDatabase(
  'registration (§7)',
  (h) => {
    const usersWithEmail = (email: string) =>
      h()
        .database.handle.db.select()
        .from(users)
        .where(eq(sql`lower(${users.email})`, email.toLowerCase()))

    test(
      '§7 POST /auth/register is 201 with the user, role user, and no secret in the body',
      async () => {
        const email = uniqueEmail('MixedCase')
        const password = 'ten chars!' // exactly the 10-character minimum
        expect(password).toHaveLength(10)
        const res = await h().call('POST', REGISTER, { body: { email, password, full_name: 'Ada Lovelace' } })
        expect(res.status).toBe(201)
        expect(res.headers.get('content-type')).toMatch(JSON_UTF8)
        expect(res.body).toEqual({
          id: expect.stringMatching(UUID),
          email: email.toLowerCase(),
          full_name: 'Ada Lovelace',
          role: 'user',
          is_active: true,
          created_at: expect.stringMatching(ISO_UTC),
          last_login_at: null,
        })
        const [row] = await usersWithEmail(email)
        expect(row?.id).toBe(res.body.id)
        // argon2id via Bun.password, and neither the password nor its hash leaves the server.
        expect(row?.passwordHash.startsWith('$argon2id$')).toBe(true)
        expect(res.text).not.toContain(password)
        expect(res.text).not.toContain(row?.passwordHash as string)
        expect(res.text).not.toMatch(/password|hash|\$argon2/i)
      },
      SLOW,
    )

    test(
      '§7 full_name is optional',
      async () => {
        const res = await h().call('POST', REGISTER, {
          body: { email: uniqueEmail('noname'), password: 'long enough password' },
        })
        expect(res.status).toBe(201)
        expect(res.body.full_name).toBeNull()
      },
      SLOW,
    )

    test(
      '§7 an email already registered, in another letter case, is 409 conflict and adds no row',
      async () => {
        const email = uniqueEmail('dup')
        expect(
          (await h().call('POST', REGISTER, { body: { email, password: 'long enough password' } })).status,
        ).toBe(201)
        const before = await rowCounts(h())
        const res = await h().call('POST', REGISTER, {
          body: { email: email.toUpperCase(), password: 'another long password' },
        })
        expectProblem(res, 409, 'conflict')
        expect(await rowCounts(h())).toEqual(before)
        expect(await usersWithEmail(email)).toHaveLength(1)
      },
      SLOW,
    )

    test(
      '§7 two simultaneous registrations of one email: one 201, one 409',
      async () => {
        const email = uniqueEmail('race')
        const results = await Promise.all([
          h().call('POST', REGISTER, { body: { email, password: 'long enough password' } }),
          h().call('POST', REGISTER, {
            body: { email: email.toUpperCase(), password: 'long enough password' },
          }),
        ])
        expect(results.map((r) => r.status).sort()).toEqual([201, 409])
        expectProblem(results.find((r) => r.status === 409) as (typeof results)[number], 409, 'conflict')
        expect(await usersWithEmail(email)).toHaveLength(1)
      },
      SLOW,
    )

    test(
      '§7 a password shorter than 10 characters is 422 at /body/password and writes nothing',
      async () => {
        const email = uniqueEmail('short')
        const before = await rowCounts(h())
        const res = await h().call('POST', REGISTER, { body: { email, password: 'nine char' } })
        expectProblem(res, 422, 'validation_failed')
        expect(pointersOf(res)).toEqual(['/body/password'])
        expect(await rowCounts(h())).toEqual(before)
        expect(await usersWithEmail(email)).toHaveLength(0)
      },
      SLOW,
    )

    test(
      '§7 registration never accepts a role: role (even "user") is 422 and writes nothing',
      async () => {
        for (const role of ['admin', 'staff', 'user']) {
          const email = uniqueEmail('role')
          const before = await rowCounts(h())
          const res = await h().call('POST', REGISTER, {
            body: { email, password: 'long enough password', role },
          })
          expectProblem(res, 422, 'validation_failed')
          expect(pointersOf(res)).toEqual(['/body/role'])
          expect(await rowCounts(h())).toEqual(before)
          expect(await usersWithEmail(email)).toHaveLength(0)
        }
      },
      SLOW,
    )

    test(
      '§1 any other unknown field (is_active) is 422 too',
      async () => {
        const res = await h().call('POST', REGISTER, {
          body: { email: uniqueEmail('active'), password: 'long enough password', is_active: false },
        })
        expectProblem(res, 422, 'validation_failed')
        expect(pointersOf(res)).toEqual(['/body/is_active'])
      },
      SLOW,
    )

    test(
      '§7 an address that is not an email is 422 at /body/email',
      async () => {
        for (const email of ['not-an-email', '', 'a@', '@b.test']) {
          const res = await h().call('POST', REGISTER, { body: { email, password: 'long enough password' } })
          expectProblem(res, 422, 'validation_failed')
          expect(pointersOf(res)).toEqual(['/body/email'])
        }
      },
      SLOW,
    )
  },
  { env: GENEROUS_RATE_LIMITS },
)
