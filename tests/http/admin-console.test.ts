import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Elysia } from 'elysia'
import { adminConsole, contentSecurityPolicy } from '../../server/http/admin-console'

const INLINE = `{ __sveltekit_x = { base: "/admin" }; import("/admin/_app/immutable/entry/start.abc.js") }`
const INDEX = `<!doctype html><html><head></head><body><script>${INLINE}</script></body></html>`

let dir: string
const app = () => new Elysia().use(adminConsole({ buildDir: dir }))
const get = (path: string, headers: Record<string, string> = {}) =>
  app().handle(new Request(`http://neoforge.test${path}`, { headers }))

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'admin-build-'))
  mkdirSync(path.join(dir, '_app/immutable/entry'), { recursive: true })
  writeFileSync(path.join(dir, 'index.html'), INDEX)
  writeFileSync(path.join(dir, '_app/immutable/entry/start.abc.js'), 'export const x = 1')
  writeFileSync(path.join(dir, '_app/immutable/entry/start.abc.js.gz'), Bun.gzipSync('export const x = 1'))
  writeFileSync(path.join(dir, '_app/version.json'), '{"version":"1"}')
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('admin console (CONTRACT §9: served at /admin by the same process)', () => {
  test('deep links get the index.html shell, no-cache, with an enforced CSP allowing the bootstrap by hash', async () => {
    for (const route of ['/admin', '/admin/', '/admin/support/12', '/admin/moderation?queue=reported']) {
      const response = await get(route)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toContain('text/html')
      expect(response.headers.get('cache-control')).toBe('no-cache')
      expect(await response.text()).toBe(INDEX)
      const csp = response.headers.get('content-security-policy') ?? ''
      const hash = new Bun.CryptoHasher('sha256').update(INLINE).digest('base64')
      expect(csp).toContain(`'sha256-${hash}'`)
      expect(csp).toContain("frame-ancestors 'none'")
      expect(csp).not.toContain('unsafe-eval')
    }
  })

  test('hashed assets are cached for a year, immutably; other files revalidate', async () => {
    const asset = await get('/admin/_app/immutable/entry/start.abc.js')
    expect(asset.status).toBe(200)
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(asset.headers.get('content-type')).toContain('javascript')
    const version = await get('/admin/_app/version.json')
    expect(version.headers.get('cache-control')).toBe('no-cache')
  })

  test('a precompressed sibling is served when the client accepts it', async () => {
    const response = await get('/admin/_app/immutable/entry/start.abc.js', {
      'accept-encoding': 'gzip, deflate',
    })
    expect(response.headers.get('content-encoding')).toBe('gzip')
    expect(response.headers.get('vary')).toBe('Accept-Encoding')
    const plain = await get('/admin/_app/immutable/entry/start.abc.js', { 'accept-encoding': 'gzip;q=0' })
    expect(plain.headers.get('content-encoding')).toBeNull()
  })

  test('a missing asset is a 404 problem, never the HTML shell', async () => {
    for (const route of [
      '/admin/_app/immutable/nope.js',
      '/admin/favicon.png',
      '/admin/_app/immutable/entry/start.abc.js.gz',
    ]) {
      const response = await get(route)
      expect(response.status).toBe(404)
      expect(response.headers.get('content-type')).toBe('application/problem+json')
      expect(((await response.json()) as { code: string }).code).toBe('not_found')
    }
  })

  test('paths that try to leave the build directory are refused', async () => {
    for (const route of ['/admin/..%2f..%2fpackage.json', '/admin/%2e%2e/%2e%2e/etc/passwd', '/admin/.env']) {
      expect((await get(route)).status).toBe(404)
    }
  })

  test('If-None-Match revalidates the shell and assets with 304', async () => {
    const first = await get('/admin/status')
    const etag = first.headers.get('etag') as string
    const again = await get('/admin/audit', { 'if-none-match': etag })
    expect(again.status).toBe(304)
    expect(again.headers.get('etag')).toBe(etag)
  })

  test('without a build, the console answers 503 with how to build it', async () => {
    const missing = new Elysia().use(adminConsole({ buildDir: path.join(dir, 'nope') }))
    const response = await missing.handle(new Request('http://neoforge.test/admin/support'))
    expect(response.status).toBe(503)
    expect(await response.text()).toContain('bun run admin:build')
  })

  test('the CSP hashes every inline script and nothing else', () => {
    const csp = contentSecurityPolicy(
      '<script src="/a.js"></script><script>one()</script><script type="module">two()</script>',
      '/r',
    )
    expect(csp.match(/'sha256-/g)?.length).toBe(2)
  })
})
