import { treaty } from '@elysiajs/eden'
import type { App } from '../../../server/app'
import type { AuditAction as ServerAuditAction } from '../../../server/features/audit/service'

/**
 * The console's one way to the API (CONTRACT §2-§8), typed end to end by Eden treaty on the
 * server's own app type. Same origin, so the HttpOnly session cookie rides along and writes carry
 * a same-origin `Origin` header (the API's CSRF rule). Every POST/PATCH sends an
 * `Idempotency-Key` made once per user action (see `Keys` / `Action`), plus `If-Match` when the
 * caller knows the item's strong ETag. Errors become `ApiError`s carrying the problem's `detail`,
 * `code` and `request_id`; a 429 knows when to retry.
 */

const origin = typeof location === 'undefined' ? 'http://localhost' : location.origin

/** Dates stay ISO strings, exactly as the API documents them. */
export const client = treaty<App>(origin, { parseDate: false, fetch: { credentials: 'same-origin' } })
export const v1 = client.api.v1

export interface FieldError {
  pointer: string
  detail: string
}

/** RFC 9457 problem details, as every 4xx/5xx of the API carries them. */
export interface Problem {
  type?: string
  title?: string
  status: number
  detail: string
  code: string
  request_id: string | null
  instance?: string
  errors?: FieldError[]
  current_etag?: string
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly detail: string
  readonly requestId: string | null
  readonly fieldErrors: FieldError[]
  /** Seconds to wait before retrying (429, 409 idempotency_key_in_use, 503), from `Retry-After`. */
  readonly retryAfter: number | null
  readonly problem: Problem

  constructor(problem: Problem, retryAfter: number | null) {
    super(problem.detail)
    this.name = 'ApiError'
    this.status = problem.status
    this.code = problem.code
    this.detail = problem.detail
    this.requestId = problem.request_id
    this.fieldErrors = problem.errors ?? []
    this.retryAfter = retryAfter
    this.problem = problem
  }

  /** One line for a person: what went wrong and, when it helps, when to try again. */
  get summary(): string {
    if (this.status === 429) {
      return `Too many requests: retry in ${this.retryAfter ?? 'a few'} s.`
    }
    if (this.code === 'idempotency_key_in_use') {
      return 'The same action is still being processed; retry in a moment.'
    }
    return this.detail
  }

  get isNetworkError(): boolean {
    return this.code === 'network_error'
  }
}

export const isApiError = (error: unknown): error is ApiError => error instanceof ApiError

/** `Retry-After` as seconds: delta-seconds or an HTTP date. */
export function retryAfterSeconds(value: string | null): number | null {
  if (value === null || value.trim() === '') return null
  if (/^\d+$/.test(value.trim())) return Number(value.trim())
  const at = Date.parse(value)
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000))
}

function asProblem(status: number, value: unknown, response: Response | undefined): Problem {
  const headerId = response?.headers.get('x-request-id') ?? null
  if (value && typeof value === 'object' && 'code' in value && 'detail' in value) {
    const problem = value as Partial<Problem>
    return {
      ...problem,
      status: typeof problem.status === 'number' ? problem.status : status,
      code: String(problem.code),
      detail: String(problem.detail),
      request_id: problem.request_id ?? headerId,
    }
  }
  if (!response) {
    return {
      status: 0,
      code: 'network_error',
      detail: 'The server could not be reached. Check the connection and try again.',
      request_id: null,
    }
  }
  return {
    status,
    code: `http_${status}`,
    detail: typeof value === 'string' && value.length > 0 && value.length < 300 ? value : `HTTP ${status}`,
    request_id: headerId,
  }
}

interface EdenResult {
  data: unknown
  error: { status: unknown; value: unknown } | null
  response: Response
  status: number
}

/** A body the API never sends raw (Eden's inferred unions may include `Response`). */
type Body<T> = Exclude<NonNullable<T>, Response>

export interface Ok<T> {
  data: T
  /** The response's ETag (strong for items, weak for lists), or null. */
  etag: string | null
  headers: Headers
}

/** Awaits an Eden call: the typed success body, or a thrown `ApiError`. */
export async function ok<R extends EdenResult>(pending: Promise<R>): Promise<Ok<Body<R['data']>>> {
  let result: R
  try {
    result = await pending
  } catch (cause) {
    throw new ApiError(asProblem(0, cause, undefined), null)
  }
  const response = result.response as Response | undefined
  if (result.error !== null || !response) {
    const value = result.error?.value
    throw new ApiError(
      asProblem(result.status, value, response),
      retryAfterSeconds(response?.headers.get('retry-after') ?? null),
    )
  }
  return {
    data: result.data as Body<R['data']>,
    etag: response.headers.get('etag'),
    headers: response.headers,
  }
}

/** Awaits an Eden call for its body only. */
export async function get<R extends EdenResult>(pending: Promise<R>): Promise<Body<R['data']>> {
  return (await ok(pending)).data
}

export interface WriteOptions {
  /** The action's Idempotency-Key (CONTRACT §5). */
  key: string
  /** The item's ETag as last read; sent as `If-Match` when it is a strong tag (CONTRACT §4). */
  etag?: string | null
}

/** Headers of a POST/PATCH/DELETE. Weak (list) tags never match a strong `If-Match`, so they are not sent. */
export function writeHeaders({ key, etag }: WriteOptions): Record<string, string> {
  const headers: Record<string, string> = { 'idempotency-key': key }
  if (etag && !etag.startsWith('W/')) headers['if-match'] = etag
  return headers
}

/**
 * Idempotency keys, one per user action: the same action (same fingerprint: what is done to
 * what) gets the same key until it succeeds, so a double click or a retry after a network error
 * is replayed by the server instead of written twice. A different action gets a new key.
 */
export class Keys {
  #keys = new Map<string, string>()

  for(fingerprint: string): string {
    let key = this.#keys.get(fingerprint)
    if (!key) {
      key = crypto.randomUUID()
      this.#keys.set(fingerprint, key)
    }
    return key
  }

  /** The action is done: doing it again later is a new action. */
  done(fingerprint: string): void {
    this.#keys.delete(fingerprint)
  }
}

// ---- Shapes the pages use (derived from the server's schemas through Eden) ----

type Data<F extends (...args: never[]) => Promise<EdenResult>> = Body<Awaited<ReturnType<F>>['data']>
type ItemOf<P> = P extends { items: (infer I)[] } ? I : never

export type User = Data<typeof v1.auth.me.get>
export type Role = User['role']
export type TicketPage = Data<typeof v1.support.tickets.get>
export type Ticket = ItemOf<TicketPage>
export type TicketStatus = Ticket['status']
export type TicketPriority = Ticket['priority']
export type PostPage = Data<typeof v1.community.posts.get>
export type Post = ItemOf<PostPage>
export type PostStatus = Post['status']
export type SessionPage = Data<typeof v1.admin.sessions.get>
export type AdminSession = ItemOf<SessionPage>
export type UserPage = Data<typeof v1.admin.users.get>
export type AdminUser = ItemOf<UserPage>
export type AuditPage = Data<typeof v1.admin['audit-log']['get']>
export type AuditEntry = ItemOf<AuditPage>
export type StatusSummary = Data<typeof v1.status.get>
export type ServiceStatus = StatusSummary['status']
export type StatusEventPage = Data<typeof v1.status.events.get>

export interface Page<T> {
  items: T[]
  total: number
  page: number
  page_size: number
  pages: number
}

// ---- Domain rules the console mirrors (CONTRACT §8) ----

/** The ticket status machine: the only transitions the console offers. */
export const TICKET_TRANSITIONS: Record<TicketStatus, TicketStatus[]> = {
  open: ['pending', 'resolved', 'closed'],
  pending: ['open', 'resolved', 'closed'],
  resolved: ['open', 'closed'],
  closed: [],
}
export const TICKET_STATUSES: TicketStatus[] = ['open', 'pending', 'resolved', 'closed']
export const TICKET_PRIORITIES: TicketPriority[] = ['urgent', 'high', 'normal', 'low']
export const POST_STATUSES: PostStatus[] = ['pending', 'published', 'hidden', 'rejected']
export const SERVICE_STATUSES: ServiceStatus[] = [
  'operational',
  'maintenance',
  'degraded',
  'partial_outage',
  'major_outage',
]
export const ROLES: Role[] = ['user', 'staff', 'admin']
export const AUDIT_ACTIONS = [
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
] as const satisfies readonly ServerAuditAction[]
export type AuditAction = ServerAuditAction

export const isStaff = (role: Role) => role === 'staff' || role === 'admin'
