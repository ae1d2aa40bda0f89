import { createHash } from 'node:crypto'
import { type Stats, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Elysia } from 'elysia'
import { PROBLEM_CONTENT_TYPE, problemBody } from './problem'
import { requestMeta } from './request-id'

/**
 * CONTRACT §9: the SvelteKit admin console (admin/, built by `bun run admin:build` into
 * admin/build) served by the API process under `/admin`.
 * - hashed assets (`/admin/_app/immutable/*`) are cached for a year, immutably;
 * - every other file (and the index.html every deep link falls back to) is `no-cache`, with an
 *   ETag so a revalidation is a 304;
 * - a missing asset is a 404 problem, never the HTML shell;
 * - the HTML carries an enforced Content-Security-Policy that allows only our own scripts and the
 *   SvelteKit bootstrap script, by hash;
 * - precompressed `.br`/`.gz` siblings are served when the client accepts them;
 * - outside `/api/v1`, so the API rate limit does not apply.
 * Without a build the console answers 503 with a page saying how to build it.
 */

export const ADMIN_BASE = '/admin'
const DEFAULT_BUILD_DIR = fileURLToPath(new URL('../../admin/build', import.meta.url))
const IMMUTABLE_PREFIX = '_app/immutable/'
const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable'
const REVALIDATE_CACHE = 'no-cache'

export interface AdminConsoleOptions {
  /** The adapter-static output directory (default: admin/build beside the server). */
  buildDir?: string
  /** Where browsers report violations of the console's CSP (default: the API's report endpoint). */
  reportUri?: string
}

interface Shell {
  mtimeMs: number
  html: string
  etag: string
  csp: string
}

/** Also set globally by the security-headers plugin; repeated so the console is safe on its own. */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
}

export const adminConsole = (options: AdminConsoleOptions = {}) => {
  const root = path.resolve(options.buildDir ?? DEFAULT_BUILD_DIR)
  const reportUri = options.reportUri ?? '/api/v1/security/csp-report'
  let shell: Shell | null = null

  /** index.html, re-read only when a rebuild changed it. */
  async function loadShell(): Promise<Shell | null> {
    const stats = statOrNull(path.join(root, 'index.html'))
    if (!stats?.isFile()) return null
    if (shell?.mtimeMs === stats.mtimeMs) return shell
    const html = await Bun.file(path.join(root, 'index.html')).text()
    shell = {
      mtimeMs: stats.mtimeMs,
      html,
      etag: `"${createHash('sha256').update(html).digest('base64url').slice(0, 27)}"`,
      csp: contentSecurityPolicy(html, reportUri),
    }
    return shell
  }

  async function serve(request: Request, headers: Record<string, unknown>): Promise<Response> {
    const current = await loadShell()
    if (!current) return notBuilt(request)

    const pathname = new URL(request.url).pathname
    const relative = safeRelativePath(pathname.slice(ADMIN_BASE.length))
    if (relative === null) return notFound(request, 'No such file in the admin console.')
    if (relative !== '' && (relative.startsWith('_app/') || path.posix.extname(relative) !== '')) {
      return serveFile(request, relative)
    }
    // Every other path is a route of the single-page app: the client router takes it from here.
    // The page's enforced policy replaces the API's report-only one, which would report every
    // script and style the console legitimately loads; its reports go to the same endpoint.
    delete headers['content-security-policy-report-only']
    const endpoints = headers['reporting-endpoints']
    const reportTo = typeof endpoints === 'string' ? /^([\w-]+)=/.exec(endpoints)?.[1] : undefined
    const page = {
      ...SECURITY_HEADERS,
      'cache-control': REVALIDATE_CACHE,
      etag: current.etag,
      'content-security-policy': reportTo ? `${current.csp}; report-to ${reportTo}` : current.csp,
    }
    if (fresh(request, current.etag)) return new Response(null, { status: 304, headers: page })
    return new Response(request.method === 'HEAD' ? null : current.html, {
      headers: { ...page, 'content-type': 'text/html; charset=utf-8' },
    })
  }

  async function serveFile(request: Request, relative: string): Promise<Response> {
    const absolute = path.join(root, relative)
    const stats = statOrNull(absolute)
    if (!stats?.isFile() || relative.endsWith('.gz') || relative.endsWith('.br')) {
      return notFound(request, `The admin console has no file ${ADMIN_BASE}/${relative}.`)
    }
    const immutable = relative.startsWith(IMMUTABLE_PREFIX)
    const etag = `W/"${stats.size.toString(36)}-${Math.trunc(stats.mtimeMs).toString(36)}"`
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      'cache-control': immutable ? IMMUTABLE_CACHE : REVALIDATE_CACHE,
      etag,
      vary: 'Accept-Encoding',
      'content-type': Bun.file(absolute).type,
    }
    if (fresh(request, etag)) return new Response(null, { status: 304, headers })

    const encoding = precompressed(absolute, request.headers.get('accept-encoding'))
    const file = Bun.file(encoding ? `${absolute}.${encoding.extension}` : absolute)
    if (encoding) headers['content-encoding'] = encoding.name
    return new Response(request.method === 'HEAD' ? null : file, { headers })
  }

  const handle = ({ request, set }: { request: Request; set: { headers: Record<string, unknown> } }) =>
    serve(request, set.headers)

  return new Elysia({ name: 'admin-console', seed: root, detail: { hide: true } })
    .get(ADMIN_BASE, handle)
    .get(`${ADMIN_BASE}/*`, handle)
    .head(ADMIN_BASE, handle)
    .head(`${ADMIN_BASE}/*`, handle)
}

/**
 * The enforced policy of the console's HTML: scripts from our origin plus the inline bootstrap
 * SvelteKit writes into index.html (allowed by its hash, so a rebuild needs no configuration).
 * Inline `style` attributes are allowed (SvelteKit's route announcer uses one); style elements are not.
 */
export function contentSecurityPolicy(html: string, reportUri: string): string {
  const scriptHashes = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
    (match) =>
      `'sha256-${createHash('sha256')
        .update(match[1] ?? '')
        .digest('base64')}'`,
  )
  return [
    "default-src 'self'",
    `script-src 'self' ${scriptHashes.join(' ')}`.trim(),
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    `report-uri ${reportUri}`,
  ].join('; ')
}

/** The decoded path below /admin, or null when it tries to leave the build directory. */
function safeRelativePath(rest: string): string | null {
  let decoded: string
  try {
    decoded = decodeURIComponent(rest)
  } catch {
    return null
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null
  const segments = decoded.split('/').filter((segment) => segment !== '' && segment !== '.')
  if (segments.some((segment) => segment === '..' || segment.startsWith('.'))) return null
  return segments.join('/')
}

function statOrNull(file: string): Stats | null {
  try {
    return statSync(file)
  } catch {
    return null
  }
}

/** `If-None-Match` against one of our tags (weak comparison, RFC 9110 §13.1.2). */
function fresh(request: Request, etag: string): boolean {
  const header = request.headers.get('if-none-match')
  if (header === null) return false
  if (header.trim() === '*') return true
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '')
  return header.split(',').some((tag) => opaque(tag) === opaque(etag))
}

function precompressed(
  absolute: string,
  acceptEncoding: string | null,
): { name: string; extension: string } | null {
  if (!acceptEncoding) return null
  const accepts = (coding: string) =>
    new RegExp(`(^|,)\\s*${coding}\\s*(;\\s*q=(?!0(\\.0*)?\\s*($|,))[0-9.]+)?\\s*($|,)`, 'i').test(
      acceptEncoding,
    )
  for (const [name, extension] of [
    ['br', 'br'],
    ['gzip', 'gz'],
  ] as const) {
    if (accepts(name) && statOrNull(`${absolute}.${extension}`)?.isFile()) return { name, extension }
  }
  return null
}

function notFound(request: Request, detail: string): Response {
  const problem = problemBody({
    status: 404,
    code: 'not_found',
    detail,
    instance: new URL(request.url).pathname,
    requestId: requestMeta(request).id,
  })
  return new Response(request.method === 'HEAD' ? null : JSON.stringify(problem), {
    status: 404,
    headers: { ...SECURITY_HEADERS, 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store' },
  })
}

function notBuilt(request: Request): Response {
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>NeoForge admin console is not built</title>
<meta name="color-scheme" content="light dark"></head>
<body>
<h1>The admin console is not built yet</h1>
<p>Build it once, then reload this page:</p>
<pre><code>bun run admin:build</code></pre>
<p>The API itself is up at <a href="/api/v1">/api/v1</a> (documentation at <a href="/swagger">/swagger</a>).</p>
</body>
</html>
`
  return new Response(request.method === 'HEAD' ? null : html, {
    status: 503,
    headers: {
      ...SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'retry-after': '30',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    },
  })
}
