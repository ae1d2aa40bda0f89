import { and, desc, eq, sql } from 'drizzle-orm'
import type { Database } from '../../../db/client'
import { countAll } from '../../../db/client'
import { cspReports } from '../../../db/schema'
import { type PageRequest, page } from '../../http/pagination'
import { badRequest } from '../../http/problem'

/** One violation, whichever of the report formats it came in. */
export interface CspViolation {
  directive: string
  documentUri: string | null
  blockedUri: string | null
  disposition: string | null
  sourceFile: string | null
  lineNumber: number | null
  columnNumber: number | null
  sample: string | null
  raw: Record<string, unknown>
}

/** Bounded label values for `csp_reports_total{directive}`: anything else counts as `other`. */
const KNOWN_DIRECTIVES = new Set([
  'default-src',
  'script-src',
  'script-src-elem',
  'script-src-attr',
  'style-src',
  'style-src-elem',
  'style-src-attr',
  'img-src',
  'font-src',
  'connect-src',
  'media-src',
  'object-src',
  'frame-src',
  'child-src',
  'worker-src',
  'manifest-src',
  'frame-ancestors',
  'form-action',
  'base-uri',
  'navigate-to',
  'prefetch-src',
  'require-trusted-types-for',
  'trusted-types',
  'upgrade-insecure-requests',
  'sandbox',
  'report-uri',
  'report-to',
])
export const MAX_REPORTS_PER_REQUEST = 100
const MAX_FIELD = 2048

const malformed = (detail: string) => badRequest('malformed_report', detail)

const text = (value: unknown): string | null =>
  typeof value === 'string' && value.length > 0 ? value.slice(0, MAX_FIELD) : null
const integer = (value: unknown): number | null =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** 31 ? value : null
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export function directiveLabel(directive: unknown): string {
  const name = typeof directive === 'string' ? directive.trim().split(/\s+/)[0]?.toLowerCase() : undefined
  return name && KNOWN_DIRECTIVES.has(name) ? name : 'other'
}

/**
 * Normalizes `application/csp-report` (CSP2: `{"csp-report": {...}}` with dashed keys) and the
 * Reporting API's `application/reports+json` (an array of `{type: "csp-violation", body}` with
 * camelCase keys); plain JSON may carry either. Anything else is a 400.
 */
export function parseCspReports(payload: unknown): CspViolation[] {
  if (isObject(payload) && isObject(payload['csp-report'])) {
    const r = payload['csp-report']
    const directive = r['effective-directive'] ?? r['violated-directive']
    if (typeof directive !== 'string')
      malformedReport('a csp-report needs effective-directive or violated-directive')
    return [
      {
        directive: directiveLabel(directive),
        documentUri: text(r['document-uri']),
        blockedUri: text(r['blocked-uri']),
        disposition: text(r.disposition),
        sourceFile: text(r['source-file']),
        lineNumber: integer(r['line-number']),
        columnNumber: integer(r['column-number']),
        sample: text(r['script-sample']),
        raw: r,
      },
    ]
  }
  const reports = Array.isArray(payload) ? payload : isObject(payload) && 'type' in payload ? [payload] : null
  if (!reports) malformedReport('expected {"csp-report": {...}} or an array of Reporting API reports')
  if (reports.length === 0) malformedReport('the report list is empty')
  if (reports.length > MAX_REPORTS_PER_REQUEST)
    malformedReport(`at most ${MAX_REPORTS_PER_REQUEST} reports per request`)
  return reports.map((report, index) => {
    if (!isObject(report) || !isObject(report.body)) malformedReport(`report ${index} has no body object`)
    if (report.type !== 'csp-violation')
      malformedReport(`report ${index} is of type ${String(report.type)}, not csp-violation`)
    const body = report.body as Record<string, unknown>
    const directive = body.effectiveDirective ?? body.violatedDirective
    if (typeof directive !== 'string') malformedReport(`report ${index} has no effectiveDirective`)
    return {
      directive: directiveLabel(directive),
      documentUri: text(body.documentURL ?? report.url),
      blockedUri: text(body.blockedURL),
      disposition: text(body.disposition),
      sourceFile: text(body.sourceFile),
      lineNumber: integer(body.lineNumber),
      columnNumber: integer(body.columnNumber),
      sample: text(body.sample),
      raw: report,
    }
  })
}

function malformedReport(detail: string): never {
  throw malformed(`Malformed CSP report: ${detail}.`)
}

export async function storeCspReports(
  db: Database,
  violations: CspViolation[],
  client: { ip: string; userAgent: string | null },
) {
  await db.insert(cspReports).values(
    violations.map((violation) => ({
      ...violation,
      ip: client.ip,
      userAgent: client.userAgent?.slice(0, 512) ?? null,
    })),
  )
}

export async function listCspReports(db: Database, filter: { directive?: string }, request: PageRequest) {
  const where = and(filter.directive ? eq(cspReports.directive, filter.directive) : undefined)
  const [rows, [counted]] = await Promise.all([
    db
      .select()
      .from(cspReports)
      .where(where)
      .orderBy(desc(cspReports.receivedAt), desc(cspReports.id))
      .limit(request.pageSize)
      .offset(request.offset),
    db.select({ total: countAll }).from(cspReports).where(where),
  ])
  return page(
    rows.map((row) => ({
      id: row.id,
      received_at: row.receivedAt.toISOString(),
      directive: row.directive,
      document_uri: row.documentUri,
      blocked_uri: row.blockedUri,
      disposition: row.disposition,
      source_file: row.sourceFile,
      line_number: row.lineNumber,
      column_number: row.columnNumber,
      sample: row.sample,
      user_agent: row.userAgent,
    })),
    counted?.total ?? 0,
    request,
  )
}

/** Keeps the newest `keep` reports of the last `days` days (the cron job calls this). */
export async function pruneCspReports(db: Database, keep = 10_000, days = 30): Promise<number> {
  const deleted = await db
    .delete(cspReports)
    .where(
      sql`${cspReports.receivedAt} < now() - make_interval(days => ${days})
        or ${cspReports.id} <= (select id from ${cspReports} order by id desc offset ${keep} limit 1)`,
    )
    .returning({ id: cspReports.id })
  return deleted.length
}
