import type { Executor } from '../../../db/client'
import { auditLog } from '../../../db/schema'

/** CONTRACT §8: the actions the audit log knows. */
export const auditActions = [
  'auth.login',
  'auth.login_failed',
  'auth.refresh_reuse',
  'session.revoke',
  'session.revoke_others',
  'session.revoke_all',
  'user.role_change',
  'user.deactivate',
  'post.moderate',
  'ticket.update',
  'project.delete',
] as const
export type AuditAction = (typeof auditActions)[number]

export interface AuditEntry {
  actorId: string | null
  action: AuditAction
  /** `<type>:<id>`, e.g. `session:…` or `user:…`. */
  target: string | null
  ip: string | null
  details?: Record<string, unknown>
}

/** Writes one audit row through `db`, which callers pass as the transaction of the change itself. */
export async function recordAudit(db: Executor, entry: AuditEntry): Promise<void> {
  await db.insert(auditLog).values({ ...entry, details: entry.details ?? {} })
}

export const target = (type: 'session' | 'user' | 'post' | 'ticket' | 'project', id: string | number) =>
  `${type}:${id}`
