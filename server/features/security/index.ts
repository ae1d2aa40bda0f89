import { Elysia } from 'elysia'
import { clientOf } from '../../http/auth'
import { pageRequest, respondWithPage } from '../../http/pagination'
import { problems } from '../../http/problem'
import type { FeatureDeps } from '../deps'
import { SecurityModel } from './model'
import { listCspReports, parseCspReports, storeCspReports } from './service'

/** Body limit of the report endpoint (CONTRACT §9). */
export const CSP_REPORT_MAX_BYTES = 64 * 1024
export const CSP_REPORT_MEDIA_TYPES = ['application/csp-report', 'application/reports+json']

/** CONTRACT §9: browsers' CSP violation reports in, the latest of them out to staff. */
export const securityRoutes = (deps: FeatureDeps) => {
  const received = deps.registry.counter(
    'csp_reports_total',
    'CSP violation reports received, by directive.',
    ['directive'],
  )
  return new Elysia({ name: 'security-routes', detail: { tags: ['security'] } })
    .use(deps.plugins)
    .post(
      '/security/csp-report',
      async ({ body, request, set }) => {
        const violations = parseCspReports(body)
        const client = clientOf(request)
        await storeCspReports(deps.db, violations, client)
        for (const violation of violations) {
          received.inc({ directive: violation.directive })
          deps.logger.warn('csp violation', {
            directive: violation.directive,
            document_uri: violation.documentUri,
            blocked_uri: violation.blockedUri,
            source_file: violation.sourceFile,
            line: violation.lineNumber,
            disposition: violation.disposition,
            ip: client.ip,
          })
        }
        set.status = 204
      },
      {
        body: SecurityModel.incoming,
        response: { 204: SecurityModel.noContent, ...problems(400, 413, 415, 429) },
        detail: {
          summary: 'Receive CSP violation reports (browsers post these)',
          description: `Accepts application/csp-report, application/reports+json and application/json, at most ${CSP_REPORT_MAX_BYTES} bytes. Malformed reports are 400.`,
          security: [],
        },
      },
    )
    .get(
      '/admin/csp-reports',
      async ({ query, request, set }) =>
        respondWithPage(
          { request, set },
          await listCspReports(
            deps.db,
            { ...(query.directive ? { directive: query.directive } : {}) },
            pageRequest(query),
          ),
        ),
      {
        auth: 'staff',
        query: SecurityModel.reportsQuery,
        response: { 200: SecurityModel.reportPage, ...problems(401, 403, 422) },
        detail: { summary: 'The latest CSP reports, newest first (staff)', tags: ['admin'] },
      },
    )
}
