import { Elysia } from 'elysia'

/**
 * CONTRACT §9 security headers, set at request start so every response carries them: problems,
 * 304s and 429s included. The API's own CSP forbids everything (it serves JSON, never a page);
 * outside production a Report-Only policy also names the report endpoint, so violations from any
 * page that borrows these headers reach `POST /api/v1/security/csp-report`. The console and the
 * Swagger UI set their own page policies where they serve HTML.
 */
export const CSP_REPORT_PATH = '/api/v1/security/csp-report'
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
const REPORT_GROUP = 'csp-endpoint'

export const securityHeaders = (options: { production: boolean; publicOrigin: string | null }) =>
  new Elysia({ name: 'security-headers' })
    .onRequest(({ request, set }) => {
      const headers = set.headers
      headers['x-content-type-options'] = 'nosniff'
      headers['x-frame-options'] = 'DENY'
      headers['referrer-policy'] = 'no-referrer'
      headers['permissions-policy'] =
        'camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()'
      headers['cross-origin-opener-policy'] = 'same-origin'
      headers['cross-origin-resource-policy'] = 'same-origin'
      headers['content-security-policy'] = API_CSP
      if (options.production) {
        headers['strict-transport-security'] = 'max-age=31536000; includeSubDomains'
        return
      }
      const reportUrl = `${options.publicOrigin ?? new URL(request.url).origin}${CSP_REPORT_PATH}`
      headers['content-security-policy-report-only'] =
        `${API_CSP}; report-uri ${CSP_REPORT_PATH}; report-to ${REPORT_GROUP}`
      headers['reporting-endpoints'] = `${REPORT_GROUP}="${reportUrl}"`
      headers['report-to'] = JSON.stringify({
        group: REPORT_GROUP,
        max_age: 10_886_400,
        endpoints: [{ url: reportUrl }],
      })
    })
    .as('global')
