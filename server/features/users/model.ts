import { t } from 'elysia'
import type { users } from '../../../db/schema'

export namespace UserModel {
  export const role = t.UnionEnum(['user', 'staff', 'admin'])

  export const user = t.Object({
    id: t.String({ format: 'uuid' }),
    email: t.String({ format: 'email' }),
    full_name: t.Nullable(t.String()),
    role,
    is_active: t.Boolean(),
    created_at: t.String({ format: 'date-time' }),
    last_login_at: t.Nullable(t.String({ format: 'date-time' })),
  })
  export type User = typeof user.static
}

/** The public shape of a user: never the password hash. */
export function toUserView(row: typeof users.$inferSelect): UserModel.User {
  return {
    id: row.id,
    email: row.email,
    full_name: row.fullName,
    role: row.role,
    is_active: row.isActive,
    created_at: row.createdAt.toISOString(),
    last_login_at: row.lastLoginAt?.toISOString() ?? null,
  }
}
