import type { Role } from '../../db/schema'
import { createUser } from '../../server/features/users/service'
import type { Harness } from './app'

export interface TestUser {
  id: string
  email: string
  password: string
  role: Role
  /** A bearer access token from `POST /api/v1/auth/token`. */
  token: string
  refreshToken: string
  sessionId: string
}

let counter = 0

/**
 * Creates an account with `role` straight through the users service (registration never grants a
 * role) and signs it in through the API. Each costs one argon2id hash (~280 ms): share them.
 */
export async function createSignedInUser(h: Harness, role: Role = 'user', name?: string): Promise<TestUser> {
  counter += 1
  const email = `${role}-${counter}-${crypto.randomUUID().slice(0, 8)}@example.test`
  const password = 'correct horse battery staple'
  const user = await createUser(h.database.handle.db, {
    email,
    password,
    role,
    fullName: name ?? `${role} ${counter}`,
  })
  const res = await h.call('POST', '/api/v1/auth/token', { body: { email, password } })
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${res.text}`)
  return {
    id: user.id,
    email,
    password,
    role,
    token: res.body.access_token,
    refreshToken: res.body.refresh_token,
    sessionId: res.body.session_id,
  }
}

/** The five callers of the authorization matrix: anonymous, a user, another user, staff, admin. */
export async function createCallers(h: Harness) {
  const [user, otherUser, staff, admin] = await Promise.all([
    createSignedInUser(h, 'user'),
    createSignedInUser(h, 'user'),
    createSignedInUser(h, 'staff'),
    createSignedInUser(h, 'admin'),
  ])
  return {
    user: user as TestUser,
    otherUser: otherUser as TestUser,
    staff: staff as TestUser,
    admin: admin as TestUser,
  }
}
