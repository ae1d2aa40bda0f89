import { t } from 'elysia'
import { pageOf, pageQuery } from '../../http/pagination'
import { UserModel } from '../users/model'

export namespace AuthModel {
  const email = t.String({ format: 'email', maxLength: 254 })

  export const register = t.Object(
    {
      email,
      password: t.String({ minLength: 10, maxLength: 1024 }),
      full_name: t.Optional(t.Nullable(t.String({ minLength: 1, maxLength: 200 }))),
    },
    { additionalProperties: false },
  )

  /**
   * `POST /auth/token`: JSON `{email, password}` or the OAuth2 password form `{username, password}`
   * (form clients may also send the OAuth2 fields `scope`, `client_id`, `client_secret`).
   */
  export const tokenRequest = t.Object(
    {
      email: t.Optional(t.String({ maxLength: 254 })),
      username: t.Optional(t.String({ maxLength: 254 })),
      password: t.String({ minLength: 1, maxLength: 1024 }),
      grant_type: t.Optional(t.String({ description: 'When present, must be `password`.' })),
      scope: t.Optional(t.String()),
      client_id: t.Optional(t.String()),
      client_secret: t.Optional(t.String()),
    },
    { additionalProperties: false },
  )

  export const signIn = t.Object(
    { email: t.String({ maxLength: 254 }), password: t.String({ minLength: 1, maxLength: 1024 }) },
    { additionalProperties: false },
  )

  export const tokenPair = t.Object({
    access_token: t.String(),
    token_type: t.Literal('bearer'),
    expires_in: t.Integer({ description: 'Seconds until the access token expires (at most 900).' }),
    refresh_token: t.String(),
    session_id: t.String({ format: 'uuid' }),
  })

  export const refreshRequest = t.Object(
    { refresh_token: t.String({ minLength: 1, maxLength: 512 }) },
    { additionalProperties: false },
  )

  export const session = t.Object({
    id: t.String({ format: 'uuid' }),
    created_at: t.String({ format: 'date-time' }),
    last_used_at: t.String({ format: 'date-time' }),
    user_agent: t.Nullable(t.String()),
    ip: t.Nullable(t.String()),
    expires_at: t.String({ format: 'date-time' }),
    revoked_at: t.Nullable(t.String({ format: 'date-time' })),
    is_current: t.Boolean(),
    kind: t.UnionEnum(['bearer', 'cookie'], { description: 'bearer: token API; cookie: console sign-in.' }),
  })

  export const sessionsQuery = t.Object(
    {
      ...pageQuery,
      include_revoked: t.Optional(t.Boolean({ description: 'Also list revoked and expired sessions.' })),
    },
    { additionalProperties: false },
  )
  export const sessionPage = pageOf(session)
  export const sessionParams = t.Object({ id: t.String({ format: 'uuid' }) })
  export const revokedCount = t.Object({ revoked_count: t.Integer({ minimum: 0 }) })
  export const user = UserModel.user
  export const noContent = t.Void({ description: 'No content' })
}
