import { swagger } from '@elysiajs/swagger'
import { Elysia } from 'elysia'
import { pathOf } from './request-id'
import { CSP_REPORT_PATH } from './security-headers'

/**
 * CONTRACT §1: the OpenAPI document at `/swagger/json` and its UI at `/swagger`, rendered by
 * Scalar from a bundle this process serves itself, so the page works with no internet access.
 */
const SCALAR_BUNDLE_PATH = '/swagger/assets/scalar.js'
const scalarBundle = Bun.file(
  new URL('../../node_modules/@scalar/api-reference/dist/browser/standalone.js', import.meta.url).pathname,
)

/** Scalar's page: its own bundle, its injected styles, data: fonts and images, the spec over fetch. */
export const SWAGGER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  `report-uri ${CSP_REPORT_PATH}`,
].join('; ')

export const openapi = (info: { version: string }) =>
  new Elysia({ name: 'openapi' })
    .onRequest(({ request, set }) => {
      if (request.method === 'GET' && pathOf(request.url) === '/swagger') {
        set.headers['content-security-policy'] = SWAGGER_CSP
        delete set.headers['content-security-policy-report-only']
      }
    })
    .as('global')
    .get(
      SCALAR_BUNDLE_PATH,
      ({ set }) => {
        set.headers['content-type'] = 'text/javascript; charset=utf-8'
        set.headers['cache-control'] = 'public, max-age=86400'
        return scalarBundle
      },
      { detail: { hide: true } },
    )
    .use(
      swagger({
        path: '/swagger',
        provider: 'scalar',
        scalarCDN: SCALAR_BUNDLE_PATH,
        // No web fonts and no telemetry: nothing the page loads comes from elsewhere.
        scalarConfig: { withDefaultFonts: false, hideDownloadButton: false, telemetry: false } as Record<
          string,
          unknown
        >,
        exclude: ['/swagger', '/swagger/json', SCALAR_BUNDLE_PATH],
        documentation: {
          info: {
            title: 'NeoForge API',
            version: info.version,
            description:
              'Projects, support, community, service status, accounts and sessions. Errors are RFC 9457 problems (application/problem+json).',
          },
          tags: [
            { name: 'auth', description: 'Accounts, tokens and sessions' },
            { name: 'operations', description: 'Health, readiness and metrics' },
          ],
          components: {
            securitySchemes: {
              bearer: {
                type: 'http',
                scheme: 'bearer',
                description: 'Access token from POST /api/v1/auth/token',
              },
              cookie: {
                type: 'apiKey',
                in: 'cookie',
                name: 'neoforge_session',
                description: 'Console session cookie',
              },
            },
          },
          security: [{ bearer: [] }, { cookie: [] }],
        },
      }),
    )
