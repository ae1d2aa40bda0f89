import { eq, sql } from 'drizzle-orm'
import type { Executor } from '../../../db/client'
import { type Role, users } from '../../../db/schema'
import { conflict } from '../../http/problem'

export const normalizeEmail = (email: string) => email.trim().toLowerCase()

export const hashPassword = (password: string) => Bun.password.hash(password, { algorithm: 'argon2id' })

/**
 * A real argon2id hash of a password nobody has, verified when an email is unknown so that
 * unknown emails and wrong passwords take the same time.
 */
let decoyHash: Promise<string> | undefined
export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  decoyHash ??= hashPassword(crypto.randomUUID())
  const matches = await Bun.password.verify(password, hash ?? (await decoyHash))
  return hash !== undefined && matches
}

export async function findUserByEmail(db: Executor, email: string) {
  const [user] = await db
    .select()
    .from(users)
    .where(eq(sql`lower(${users.email})`, normalizeEmail(email)))
    .limit(1)
  return user
}

export async function findUserById(db: Executor, id: string) {
  const [user] = await db.select().from(users).where(eq(users.id, id)).limit(1)
  return user
}

export interface NewUser {
  email: string
  password: string
  fullName?: string | null
  role?: Role
}

/** Creates an account; an email already registered (in any letter case) is a 409 conflict. */
export async function createUser(db: Executor, input: NewUser) {
  const passwordHash = await hashPassword(input.password)
  const [user] = await db
    .insert(users)
    .values({
      email: normalizeEmail(input.email),
      passwordHash,
      fullName: input.fullName ?? null,
      role: input.role ?? 'user',
    })
    .onConflictDoNothing()
    .returning()
  if (!user) throw conflict('An account with this email already exists.')
  return user
}
