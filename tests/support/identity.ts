import { expect } from 'bun:test'
import { and, asc, eq, sql } from 'drizzle-orm'
import { auditLog } from '../../db/schema'
import type { Harness, TestResponse } from './app'

/**
 * Helpers for the identity suites (CONTRACT §1, §2, §7). Every account costs one argon2id hash
 * (~280 ms) to create and one to sign in: suites share accounts through `beforeAll`.
 */

export const PASSWORD = 'correct horse battery staple'

/** Timeout for hooks and tests that hash or verify passwords (slow on a loaded machine). */
export const SLOW = 60_000

/**
 * The identity suites sign in far more often than one client may in a real minute; they lift the
 * §6 limits so that each test proves its own rule (rate limits have their own suite).
 */
export const GENEROUS_RATE_LIMITS = {
  RATE_LIMIT_LOGIN: '100000/60',
  RATE_LIMIT_REGISTER: '100000/3600',
  RATE_LIMIT_API: '100000/60',
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
export const JSON_UTF8 = /^application\/json;\s*charset=utf-8$/i

export interface TokenPair {
  access_token: string
  token_type: 'bearer'
  expires_in: number
  refresh_token: string
  session_id: string
}

export interface UserView {
  id: string
  email: string
  full_name: string | null
  role: string
  is_active: boolean
  created_at: string
  last_login_at: string | null
}

let counter = 0
/** A fresh email address, unique across suites sharing a PostgreSQL server. */
export function uniqueEmail(label: string): string {
  counter += 1
  return `${label}-${counter}-${crypto.randomUUID().slice(0, 8)}@example.test`
}

export async function register(h: Harness, email: string, password = PASSWORD): Promise<UserView> {
  const res = await h.call('POST', '/api/v1/auth/register', { body: { email, password } })
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${res.text}`)
  return res.body
}

export async function signIn(
  h: Harness,
  email: string,
  password = PASSWORD,
  headers: Record<string, string> = {},
): Promise<TokenPair> {
  const res = await h.call('POST', '/api/v1/auth/token', { body: { email, password }, headers })
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status} ${res.text}`)
  return res.body
}

/** Browser sign-in; returns the session cookie as a `Cookie` header value (`name=value`). */
export async function cookieSignIn(h: Harness, email: string, password = PASSWORD): Promise<string> {
  const res = await h.call('POST', '/api/v1/auth/session', { body: { email, password } })
  if (res.status !== 200) throw new Error(`cookie sign-in failed: ${res.status} ${res.text}`)
  const setCookie = res.headers.get('set-cookie') ?? ''
  const pair = setCookie.split(';')[0]
  if (!pair?.includes('=')) throw new Error(`no session cookie in ${JSON.stringify(setCookie)}`)
  return pair
}

/**
 * Asserts an RFC 9457 problem (CONTRACT §2): status, media type, the stable code, every member,
 * and the request id matching the `X-Request-ID` header.
 */
export function expectProblem(res: TestResponse, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code })
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  const requestId = res.headers.get('x-request-id')
  expect(requestId).toBeTruthy()
  // A copy: bun's toMatchObject writes its asymmetric matchers into the object it inspects.
  expect(structuredClone(res.body)).toMatchObject({
    type: `https://neoforge.dev/problems/${code}`,
    title: expect.any(String),
    status,
    detail: expect.any(String),
    instance: expect.any(String),
    code,
    request_id: requestId,
  })
}

/** The pointers of a 422 problem's `errors`, sorted. */
export function pointersOf(res: TestResponse): string[] {
  expect(Array.isArray(res.body?.errors)).toBe(true)
  for (const error of res.body.errors)
    expect(error).toEqual({ pointer: expect.any(String), detail: expect.any(String) })
  return res.body.errors.map((error: { pointer: string }) => error.pointer).sort()
}

/** A problem body without the members that differ per request. */
export function problemWithoutRequest(res: TestResponse): Record<string, unknown> {
  const { request_id: _requestId, ...rest } = res.body
  return rest
}

export type Table = 'users' | 'user_sessions' | 'refresh_tokens' | 'audit_log'

export async function countRows(h: Harness, table: Table): Promise<number> {
  const [row] = await h.database.handle.rows<{ n: number }>(
    sql`select count(*)::int as n from ${sql.identifier(table)}`,
  )
  return Number(row?.n)
}

/** Row counts of every identity table, to prove a rejected request wrote nothing. */
export async function rowCounts(h: Harness): Promise<Record<Table, number>> {
  const tables: Table[] = ['users', 'user_sessions', 'refresh_tokens', 'audit_log']
  const counts = await Promise.all(tables.map((table) => countRows(h, table)))
  return Object.fromEntries(tables.map((table, i) => [table, counts[i] as number])) as Record<Table, number>
}

export type AuditRow = typeof auditLog.$inferSelect

/** Audit rows (CONTRACT §8) of one action, optionally of one target, oldest first. */
export async function auditRows(h: Harness, action: string, target?: string): Promise<AuditRow[]> {
  return h.database.handle.db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.action, action), target === undefined ? undefined : eq(auditLog.target, target)))
    .orderBy(asc(auditLog.id))
}

/**
 * The access-log line of a request. The app writes it after the response is sent (Elysia's
 * afterResponse runs on a later turn of the event loop), so this yields until it appears.
 */
export async function accessLogLine(h: Harness, requestId: string): Promise<Record<string, unknown>> {
  for (let turn = 0; turn < 200; turn++) {
    const line = h.logLines
      .map((text) => JSON.parse(text) as Record<string, unknown>)
      .find((entry) => entry.msg === 'request' && entry.request_id === requestId)
    if (line) return line
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`no access-log line for request ${requestId}`)
}

/** Lets every pending afterResponse hook (access log, metrics) run. */
export async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve))
}

/** Parses an RFC 8288 `Link` header into `{ rel: target }`. */
export function parseLinks(header: string | null): Record<string, string> {
  const links: Record<string, string> = {}
  if (!header) return links
  for (const part of header.split(/,\s*(?=<)/)) {
    const match = /^<([^>]*)>\s*;\s*rel="([^"]+)"$/.exec(part.trim())
    if (!match) throw new Error(`malformed link ${JSON.stringify(part)}`)
    links[match[2] as string] = match[1] as string
  }
  return links
}
