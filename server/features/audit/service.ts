import { and, desc, eq, gte, lt } from 'drizzle-orm'
import { countAll, type Executor } from '../../../db/client'
import { auditLog } from '../../../db/schema'
import { type PageRequest, page } from '../../http/pagination'
import type { AuditModel } from './model'

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

export interface AuditFilters {
  actorId?: string
  action?: AuditAction
  target?: string
  since?: Date
  until?: Date
}

/**
 * The audit log, newest first (`at desc, id desc`). `since` and `until` are both inclusive at the
 * millisecond precision the API shows: `until` also matches the sub-millisecond rest of its instant.
 */
export async function listAudit(db: Executor, filters: AuditFilters, request: PageRequest) {
  const where = and(
    filters.actorId ? eq(auditLog.actorId, filters.actorId) : undefined,
    filters.action ? eq(auditLog.action, filters.action) : undefined,
    filters.target ? eq(auditLog.target, filters.target) : undefined,
    filters.since ? gte(auditLog.at, filters.since) : undefined,
    filters.until ? lt(auditLog.at, new Date(filters.until.getTime() + 1)) : undefined,
  )
  const [rows, [counted]] = await Promise.all([
    db
      .select()
      .from(auditLog)
      .where(where)
      .orderBy(desc(auditLog.at), desc(auditLog.id))
      .limit(request.pageSize)
      .offset(request.offset),
    db.select({ total: countAll }).from(auditLog).where(where),
  ])
  return page(rows.map(toAuditView), counted?.total ?? 0, request)
}

export function toAuditView(row: typeof auditLog.$inferSelect): AuditModel.Entry {
  return {
    id: row.id,
    at: row.at.toISOString(),
    actor_id: row.actorId,
    action: row.action,
    target: row.target,
    ip: row.ip,
    details: row.details,
  }
}
