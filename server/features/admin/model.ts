import { t } from 'elysia'
import { roles } from '../../../db/schema'
import { pageOf, pageQuery, sortQuery } from '../../http/pagination'
import { enumOf } from '../../http/schema'
import { uuidString } from '../audit/model'
import { AuthModel } from '../auth/model'
import { UserModel } from '../users/model'

export namespace AdminModel {
  const role = enumOf(roles, { description: 'user, staff or admin.' })

  export const userSortFields = ['created_at', 'email', 'last_login_at'] as const
  export type UserSort = (typeof userSortFields)[number] | `-${(typeof userSortFields)[number]}`

  export const usersQuery = t.Object(
    {
      ...pageQuery,
      q: t.Optional(
        t.String({ minLength: 1, maxLength: 200, description: 'Case-insensitive substring of the email.' }),
      ),
      role: t.Optional(role),
      is_active: t.Optional(t.Boolean({ description: '`true` or `false`.' })),
      sort: sortQuery(userSortFields),
    },
    { additionalProperties: false },
  )

  export const user = UserModel.user
  export const usersPage = pageOf(user)
  export const userParams = t.Object({ id: uuidString() })

  export const userPatch = t.Object(
    {
      role: t.Optional(role),
      is_active: t.Optional(
        t.Boolean({ description: '`false` deactivates the account and revokes every session.' }),
      ),
    },
    { additionalProperties: false, minProperties: 1, description: 'At least one of role, is_active.' },
  )
  export type UserPatch = typeof userPatch.static

  export const sessionsQuery = t.Object(
    {
      ...pageQuery,
      user_id: t.Optional(uuidString('Only this user’s sessions.')),
      email: t.Optional(
        t.String({
          minLength: 1,
          maxLength: 254,
          description: 'Only sessions of the user with this email (any letter case).',
        }),
      ),
      active: t.Optional(
        t.Boolean({
          description: '`true`: not revoked and not expired; `false`: revoked or expired. Default: both.',
        }),
      ),
    },
    { additionalProperties: false },
  )

  export const session = t.Composite([
    AuthModel.session,
    t.Object({ user_id: t.String({ format: 'uuid' }), user_email: t.String({ format: 'email' }) }),
  ])
  export type Session = typeof session.static
  export const sessionsPage = pageOf(session)
  export const sessionParams = t.Object({ id: uuidString() })

  export const revokedCount = AuthModel.revokedCount
}
