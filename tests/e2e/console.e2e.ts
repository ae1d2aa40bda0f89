import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AxeBuilder } from '@axe-core/playwright'
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Page,
  type Request,
  type Response,
} from 'playwright-core'
import { createTestDatabase, type TestDatabase } from '../support/databases'
import { type ServerProcess, startServer } from '../support/server-process'

/**
 * The admin console end to end (issue 6, item 5): a real `bun server/index.ts` process on a fresh
 * database (PGlite under a temporary DATA_DIR, or a new database on TEST_DATABASE_URL), the built
 * console in admin/build, and Debian's Chromium driven through playwright-core. Every test is a
 * browser flow that asserts on what the page shows and then on the REST API.
 *
 * Run: bun test --timeout 60000 ./tests/e2e/console.e2e.ts (after `bun run admin:build`).
 * Writes reports/screenshots/<page>.png and reports/axe.json.
 */

const ROOT = new URL('../../', import.meta.url).pathname
const BUILD_INDEX = join(ROOT, 'admin/build/index.html')
const REPORTS = join(ROOT, 'reports')
const SCREENSHOTS = join(REPORTS, 'screenshots')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const PASSWORD = 'correct-horse-battery-staple'
const DESKTOP = { width: 1280, height: 800 }
const SMALL = { width: 1024, height: 768 }

type Role = 'user' | 'staff' | 'admin'
interface Account {
  email: string
  role: Role
  fullName: string
}
const accounts = {
  admin: { email: 'ada.admin@e2e.test', role: 'admin', fullName: 'Ada Admin' },
  staff: { email: 'sam.staff@e2e.test', role: 'staff', fullName: 'Sam Staff' },
  author: { email: 'alex.author@e2e.test', role: 'user', fullName: 'Alex Author' },
  reporter: { email: 'rita.reporter@e2e.test', role: 'user', fullName: 'Rita Reporter' },
  member: { email: 'mo.member@e2e.test', role: 'user', fullName: 'Mo Member' },
  victim: { email: 'vic.victim@e2e.test', role: 'user', fullName: 'Vic Victim' },
} satisfies Record<string, Account>

let server: ServerProcess
let database: TestDatabase | null = null
let dataDir: string
let browser: Browser
let stopping = false
/** Bearer tokens of the seeded accounts, for seeding and for checking the API after each flow. */
const tokens: Partial<Record<keyof typeof accounts, string>> = {}
const ids: Partial<Record<keyof typeof accounts, string>> = {}
/** Contexts opened by the running test, closed after it; page errors it raised. */
let contexts: BrowserContext[] = []
let pageErrors: string[] = []
const axeResults: Record<string, { violations: number; seriousOrCritical: number; ids: string[] }> = {}
const screenshots: string[] = []

// ---------------------------------------------------------------------------------------------
// The REST API, as the tests' "other side": seeding data and checking what the console did.

interface ApiResult<T = any> {
  status: number
  body: T
  headers: Headers
}

async function api<T = any>(
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<ApiResult<T>> {
  const headers: Record<string, string> = {}
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  if (options.token) headers.authorization = `Bearer ${options.token}`
  const response = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers }
}

/** A call that must succeed with `status`; the problem body is in the failure message otherwise. */
async function apiExpect<T = any>(
  status: number,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<T> {
  const result = await api<T>(method, path, options)
  if (result.status !== status) {
    throw new Error(
      `${method} ${path}: expected ${status}, got ${result.status} ${JSON.stringify(result.body)}`,
    )
  }
  return result.body
}

async function tokenFor(
  email: string,
): Promise<{ access_token: string; refresh_token: string; session_id: string }> {
  return apiExpect(200, 'POST', '/auth/token', { body: { email, password: PASSWORD } })
}

const token = (who: keyof typeof accounts): string => {
  const value = tokens[who]
  if (!value) throw new Error(`no token for ${who}`)
  return value
}

/** A post by the author; published (approved by staff) unless `pending`, since the server premoderates. */
async function createPost(title: string, options: { pending?: boolean } = {}): Promise<{ id: number }> {
  const post = await apiExpect<{ id: number; status: string }>(201, 'POST', '/community/posts', {
    token: token('author'),
    body: { title, content: `${title}. A post written by the e2e suite to be moderated in the console.` },
  })
  expect(post.status).toBe('pending')
  if (!options.pending) {
    await apiExpect(200, 'PATCH', `/community/posts/${post.id}`, {
      token: token('staff'),
      body: { status: 'published', moderation_reason: 'Seeded by the e2e suite' },
    })
  }
  return post
}

async function createTicket(subject: string, priority = 'normal'): Promise<{ id: number }> {
  return apiExpect(201, 'POST', '/support/tickets', {
    body: {
      email: 'casey.customer@example.com',
      subject,
      message: `Hello,\n\n${subject}. Could you have a look?\n\nThanks, Casey`,
      priority,
    },
  })
}

// ---------------------------------------------------------------------------------------------
// The browser.

async function newPage(viewport = DESKTOP): Promise<Page> {
  const context = await browser.newContext({ viewport, colorScheme: 'light', locale: 'en-GB' })
  contexts.push(context)
  const page = await context.newPage()
  page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`))
  page.on('dialog', (dialog) => void dialog.dismiss())
  return page
}

const isCall = (method: string, path: string | RegExp) => (response: Response | Request) => {
  const request = 'request' in response ? response.request() : response
  if (request.method() !== method) return false
  const pathname = new URL(request.url()).pathname
  return typeof path === 'string' ? pathname === `/api/v1${path}` : path.test(pathname)
}

/** Does `action` and returns the response to the API call it causes. */
async function callOf(page: Page, method: string, path: string | RegExp, action: () => Promise<unknown>) {
  const [response] = await Promise.all([page.waitForResponse(isCall(method, path)), action()])
  return response
}

/**
 * The page has rendered: its h1, no navigation in flight, no streamed section still loading.
 * (Locator waits only: the console's CSP forbids `eval`, which string predicates would need.)
 */
async function ready(page: Page, heading: string | RegExp) {
  await page.getByRole('heading', { level: 1, name: heading }).waitFor()
  await page.locator('main[aria-busy="true"]').waitFor({ state: 'detached' })
  const loading = page.locator('main .loading')
  while ((await loading.count()) > 0) await loading.first().waitFor({ state: 'detached' })
}

/** Signs in through the login page; resolves once the console (or the no-access page) is shown. */
async function signIn(who: keyof typeof accounts, options: { viewport?: typeof DESKTOP } = {}) {
  const page = await newPage(options.viewport)
  await page.goto(`${server.url}/admin/login`)
  await ready(page, 'NeoForge admin')
  await page.getByLabel('Email').fill(accounts[who].email)
  await page.getByLabel('Password').fill(PASSWORD)
  const response = await callOf(page, 'POST', '/auth/session', () =>
    page.getByRole('button', { name: 'Sign in' }).click(),
  )
  expect(response.status()).toBe(200)
  await ready(page, accounts[who].role === 'user' ? 'This account cannot use the admin console' : 'Overview')
  return page
}

/**
 * axe-core on the page as it is (light), then again with a dark colour scheme (the console follows
 * the system's); records both for the report and fails on any serious or critical violation.
 */
async function axe(page: Page, name: string) {
  const serious: string[] = []
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme })
    const result = await new AxeBuilder({ page }).analyze()
    const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    axeResults[scheme === 'light' ? name : `${name} (dark)`] = {
      violations: result.violations.length,
      seriousOrCritical: bad.length,
      ids: result.violations.map((v) => `${v.id}:${v.impact}(${v.nodes.length})`),
    }
    for (const v of bad) {
      serious.push(`${scheme}: ${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)
    }
  }
  await page.emulateMedia({ colorScheme: 'light' })
  expect(serious).toEqual([])
}

async function screenshot(page: Page, name: string) {
  const path = join(SCREENSHOTS, `${name}.png`)
  await page.screenshot({ path })
  screenshots.push(path)
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  if (!existsSync(BUILD_INDEX)) {
    throw new Error(
      `The admin console is not built (${BUILD_INDEX} is missing): run \`bun run admin:build\` before the e2e suite.`,
    )
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No Chromium at ${CHROMIUM}: \`apt-get install -y chromium\` or set CHROMIUM_PATH.`)
  }
  mkdirSync(SCREENSHOTS, { recursive: true })

  dataDir = mkdtempSync(join(tmpdir(), 'neoforge-e2e-'))
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    NODE_ENV: 'test',
    APP_SECRET: 'e2e-secret-that-is-comfortably-over-32-characters',
    RATE_LIMIT_LOGIN: '10000/60',
    RATE_LIMIT_REGISTER: '10000/60',
    RATE_LIMIT_API: '100000/60',
    COMMUNITY_PREMODERATION: 'true',
    COMMUNITY_REPORT_THRESHOLD: '3',
    CRON_ENABLED: 'false',
  }
  if (process.env.TEST_DATABASE_URL) {
    database = await createTestDatabase('postgres')
    env.DATABASE_URL = database.url as string
  }

  // Accounts first, in their own process: PGlite is one process per data directory.
  const seed = Bun.spawn(
    [
      'bun',
      'tests/e2e/seed-users.ts',
      JSON.stringify(Object.values(accounts).map((a) => ({ ...a, password: PASSWORD }))),
    ],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LOG_LEVEL: 'warn', ...env },
      stdout: 'pipe',
      stderr: 'pipe',
    },
  )
  const [seedOut, seedErr, seedCode] = await Promise.all([
    new Response(seed.stdout).text(),
    new Response(seed.stderr).text(),
    seed.exited,
  ])
  if (seedCode !== 0) throw new Error(`seeding the accounts failed (${seedCode}):\n${seedOut}${seedErr}`)

  server = await startServer({ ...env, LOG_LEVEL: 'info' }, { readyTimeoutMs: 45_000 })
  // A server that goes away mid-suite fails every later test with ERR_CONNECTION_REFUSED: say why.
  void server.process.exited.then((code) => {
    if (!stopping) {
      console.error(
        `\nThe server exited during the suite (code ${code}, signal ${server.process.signalCode}):\n${server.output().split('\n').slice(-30).join('\n')}`,
      )
    }
  })
  const driver = /"driver":"(\w+)"/.exec(server.output())?.[1]
  console.log(
    `e2e: server ${server.url}, database driver ${driver ?? '?'}${database ? ` (${database.url})` : ''}`,
  )
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })

  for (const who of Object.keys(accounts) as (keyof typeof accounts)[]) {
    tokens[who] = (await tokenFor(accounts[who].email)).access_token
    ids[who] = (await apiExpect<{ id: string }>(200, 'GET', '/auth/me', { token: tokens[who] })).id
  }
  // Something on every page: tickets of each priority, service statuses.
  for (const [i, priority] of ['low', 'normal', 'high', 'urgent'].entries()) {
    await createTicket(`Seeded ticket ${i + 1}: the invoice total looks wrong`, priority)
  }
  await apiExpect(201, 'POST', '/status/events', {
    token: token('staff'),
    body: { service: 'api', status: 'operational' },
  })
  await apiExpect(201, 'POST', '/status/events', {
    token: token('staff'),
    body: { service: 'eu-db', status: 'degraded', description: 'Replica lag on the EU database' },
  })
})

afterEach(async () => {
  const errors = pageErrors
  pageErrors = []
  await Promise.all(contexts.map((context) => context.close()))
  contexts = []
  // An uncaught exception in the console is a bug even when the flow still worked.
  expect(errors).toEqual([])
})

afterAll(async () => {
  await browser?.close()
  stopping = true
  const code = await server?.stop()
  if (code !== 0 && server) console.error(`server exited with ${code}:\n${server.output()}`)
  await database?.drop()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })

  if (Object.keys(axeResults).length > 0) {
    mkdirSync(REPORTS, { recursive: true })
    writeFileSync(join(REPORTS, 'axe.json'), `${JSON.stringify(axeResults, null, 2)}\n`)
    console.log('\naxe-core, per page (all violations / serious or critical):')
    for (const [name, result] of Object.entries(axeResults)) {
      console.log(
        `  ${name.padEnd(24)} ${String(result.violations).padStart(2)} / ${result.seriousOrCritical}${result.ids.length ? `  ${result.ids.join(', ')}` : ''}`,
      )
    }
  }
  if (screenshots.length > 0) console.log(`\nscreenshots:\n${screenshots.map((p) => `  ${p}`).join('\n')}`)
})

// ---------------------------------------------------------------------------------------------

describe('admin console flows', () => {
  test('staff signs in with email and password and gets an HttpOnly SameSite=Strict session cookie', async () => {
    const page = await newPage()
    await page.goto(`${server.url}/admin/login`)
    await ready(page, 'NeoForge admin')

    await page.getByLabel('Email').fill(accounts.staff.email)
    await page.getByLabel('Password').fill(PASSWORD)
    const response = await callOf(page, 'POST', '/auth/session', () =>
      page.getByRole('button', { name: 'Sign in' }).click(),
    )
    expect(response.status()).toBe(200)
    expect(await response.text()).not.toContain('token')

    await ready(page, 'Overview')
    const sidebar = page.getByRole('complementary')
    await sidebar.getByText(accounts.staff.email).waitFor()
    await sidebar.getByText('Role: staff').waitFor()
    // Staff see no user management.
    expect(await sidebar.getByRole('link', { name: 'Users' }).count()).toBe(0)

    const cookies = await page.context().cookies()
    expect(cookies.length).toBe(1)
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Strict' })
    // The cookie is the browser's credential for the API.
    const me = await page.request.get(`${server.url}/api/v1/auth/me`)
    expect(me.status()).toBe(200)
    expect((await me.json()).email).toBe(accounts.staff.email)
  })

  test('signed out, the console sends every page to sign-in, without errors in the page', async () => {
    const page = await newPage()
    for (const path of ['/admin/', '/admin/moderation', '/admin/support/1', '/admin/users']) {
      await page.goto(`${server.url}${path}`)
      await page.waitForURL((url) => url.pathname === '/admin/login')
      await ready(page, 'NeoForge admin')
      expect(new URL(page.url()).searchParams.get('next')).toBe(path)
    }
    // afterEach fails the test on any uncaught exception the pages raised on the way.
  })

  test('a deep link survives sign-in: after signing in the console opens the page that was asked for', async () => {
    const page = await newPage()
    await page.goto(`${server.url}/admin/support?status=open`)
    await page.waitForURL((url) => url.pathname === '/admin/login')
    expect(new URL(page.url()).searchParams.get('next')).toBe('/admin/support?status=open')
    await ready(page, 'NeoForge admin')
    await page.getByLabel('Email').fill(accounts.staff.email)
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL((url) => url.pathname !== '/admin/login')
    await ready(page, 'Support triage')
    // Still there once everything has settled (not bounced on to the overview).
    await page.getByRole('complementary').getByText(accounts.staff.email).waitFor()
    const url = new URL(page.url())
    expect(`${url.pathname}${url.search}`).toBe('/admin/support?status=open')
    expect(await page.getByLabel('Status').inputValue()).toBe('open')
  })

  test('a wrong password is refused on the sign-in page and sets no cookie', async () => {
    const page = await newPage()
    await page.goto(`${server.url}/admin/login`)
    await ready(page, 'NeoForge admin')
    await page.getByLabel('Email').fill(accounts.staff.email)
    await page.getByLabel('Password').fill('not-the-right-password')
    const response = await callOf(page, 'POST', '/auth/session', () =>
      page.getByRole('button', { name: 'Sign in' }).click(),
    )
    expect(response.status()).toBe(401)
    await page.getByRole('alert').filter({ hasText: 'Wrong email or password.' }).waitFor()
    expect(new URL(page.url()).pathname).toBe('/admin/login')
    expect(await page.context().cookies()).toEqual([])
  })

  test('hiding a reported post in the moderation queue removes it from the public list', async () => {
    const title = `Buy cheap watches now ${Date.now()}`
    const post = await createPost(title)
    await apiExpect(201, 'POST', `/community/posts/${post.id}/reports`, {
      token: token('reporter'),
      body: { reason: 'Spam' },
    })
    const publicBefore = await apiExpect<{ items: { id: number }[] }>(
      200,
      'GET',
      `/community/posts?q=${encodeURIComponent(title)}`,
    )
    expect(publicBefore.items.map((p) => p.id)).toEqual([post.id])

    const page = await signIn('staff')
    await page.goto(`${server.url}/admin/moderation?queue=reported&q=${encodeURIComponent(title)}`)
    await ready(page, 'Moderation queue')
    const card = page.locator('article.post', { hasText: title })
    await card.getByText('1 report', { exact: true }).waitFor()

    const response = await callOf(page, 'PATCH', `/community/posts/${post.id}`, () =>
      card.getByRole('button', { name: 'Hide', exact: true }).click(),
    )
    expect(response.status()).toBe(200)
    expect(response.request().headers()['idempotency-key']).toBeTruthy()
    await card.getByRole('status').filter({ hasText: 'Hidden' }).waitFor()

    // Gone for the public, still there (hidden) for staff, and the moderation is audited.
    const publicAfter = await apiExpect<{ items: { id: number }[] }>(
      200,
      'GET',
      `/community/posts?q=${encodeURIComponent(title)}`,
    )
    expect(publicAfter.items).toEqual([])
    expect((await api('GET', `/community/posts/${post.id}`)).status).toBe(404)
    const asStaff = await apiExpect(200, 'GET', `/community/posts/${post.id}`, { token: token('staff') })
    expect(asStaff.status).toBe('hidden')
    const audit = await apiExpect<{ items: { action: string; actor_id: string; details: any }[] }>(
      200,
      'GET',
      `/admin/audit-log?target=post:${post.id}&action=post.moderate`,
      { token: token('admin') },
    )
    expect(audit.items[0]).toMatchObject({ action: 'post.moderate', actor_id: ids.staff })
    expect(JSON.stringify(audit.items[0]?.details)).toContain('hidden')
  })

  test('staff takes a ticket open → pending → resolved, offered only the allowed transitions', async () => {
    const subject = `Printer on fire ${Date.now()}`
    const ticket = await createTicket(subject, 'high')

    const page = await signIn('staff')
    await page.goto(`${server.url}/admin/support?q=${encodeURIComponent(subject)}`)
    await ready(page, 'Support triage')
    await page.getByRole('link', { name: subject }).click()
    await ready(page, `#${ticket.id} · ${subject}`)
    expect(new URL(page.url()).pathname).toBe(`/admin/support/${ticket.id}`)

    const statusCard = page.locator('section[aria-labelledby="status-heading"]')
    const offered = () => statusCard.getByRole('button').allTextContents()
    await page.locator('#status-heading', { hasText: 'Open' }).waitFor()
    expect((await offered()).map((s) => s.trim())).toEqual(['Mark pending', 'Mark resolved', 'Mark closed'])

    const first = await callOf(page, 'PATCH', `/support/tickets/${ticket.id}`, () =>
      statusCard.getByRole('button', { name: 'Mark pending' }).click(),
    )
    expect(first.status()).toBe(200)
    expect(first.request().headers()['idempotency-key']).toBeTruthy()
    expect(first.request().headers()['if-match']).toMatch(/^"/)
    await page.locator('#status-heading', { hasText: 'Pending' }).waitFor()
    await page.getByRole('status').filter({ hasText: 'Saved: Status → Pending' }).waitFor()
    expect((await offered()).map((s) => s.trim())).toEqual(['Reopen', 'Mark resolved', 'Mark closed'])

    const second = await callOf(page, 'PATCH', `/support/tickets/${ticket.id}`, () =>
      statusCard.getByRole('button', { name: 'Mark resolved' }).click(),
    )
    expect(second.status()).toBe(200)
    expect(second.request().headers()['idempotency-key']).not.toBe(
      first.request().headers()['idempotency-key'],
    )
    await page.locator('#status-heading', { hasText: 'Resolved' }).waitFor()
    expect((await offered()).map((s) => s.trim())).toEqual(['Reopen', 'Mark closed'])

    const after = await apiExpect(200, 'GET', `/support/tickets/${ticket.id}`, { token: token('staff') })
    expect(after).toMatchObject({ status: 'resolved', priority: 'high' })
    const audit = await apiExpect<{ items: { details: any }[] }>(
      200,
      'GET',
      `/admin/audit-log?target=ticket:${ticket.id}&action=ticket.update`,
      { token: token('admin') },
    )
    expect(audit.items.length).toBe(2)
  })

  test("revoking a user's session in the console makes that user's next API call 401", async () => {
    const victim = await tokenFor(accounts.victim.email)
    expect((await api('GET', '/auth/me', { token: victim.access_token })).status).toBe(200)

    const page = await signIn('admin')
    await page.goto(`${server.url}/admin/sessions`)
    await ready(page, 'Sessions')
    await page.getByLabel('Email (or part of it)').fill('vic.victim')
    await page.getByRole('button', { name: 'Find' }).click()
    await page.getByRole('button', { name: accounts.victim.email }).click()
    await page.locator('#person-heading', { hasText: accounts.victim.email }).waitFor()
    await page.waitForURL((url) => url.searchParams.get('user') === ids.victim)
    await ready(page, 'Sessions')

    // Their sessions: the one from `tokenFor` in beforeAll and the one just made.
    const rows = page.locator('tbody tr')
    expect(await rows.count()).toBe(2)
    const response = await callOf(page, 'POST', `/admin/sessions/${victim.session_id}/revoke`, async () => {
      // Newest first: the session just created is the first row.
      await rows.first().getByRole('button', { name: 'Revoke' }).click()
    })
    expect(response.status()).toBe(200)
    expect(response.request().headers()['idempotency-key']).toBeTruthy()
    await rows.nth(1).waitFor({ state: 'detached' })
    expect(await rows.count()).toBe(1)

    const next = await api('GET', '/auth/me', { token: victim.access_token })
    expect(next.status).toBe(401)
    expect(
      (await api('POST', '/auth/refresh', { body: { refresh_token: victim.refresh_token } })).status,
    ).toBe(401)
    // Only that session: their other one still works.
    expect((await api('GET', '/auth/me', { token: token('victim') })).status).toBe(200)
  })

  test('a 412 conflict shows the other change and reapplying on the new version succeeds', async () => {
    const subject = `Cannot export invoices ${Date.now()}`
    const ticket = await createTicket(subject, 'normal')

    const page = await signIn('staff')
    await page.goto(`${server.url}/admin/support/${ticket.id}`)
    await ready(page, `#${ticket.id} · ${subject}`)
    await page.locator('#status-heading', { hasText: 'Open' }).waitFor()

    // Someone else raises the priority after the page read the ticket.
    await apiExpect(200, 'PATCH', `/support/tickets/${ticket.id}`, {
      token: token('admin'),
      body: { priority: 'urgent' },
    })

    const stale = await callOf(page, 'PATCH', `/support/tickets/${ticket.id}`, () =>
      page.getByRole('button', { name: 'Mark pending' }).click(),
    )
    expect(stale.status()).toBe(412)
    const conflict = page.getByRole('alert').filter({ hasText: 'Someone else changed this ticket' })
    await conflict.waitFor()
    await conflict.getByText('Priority: Normal → Urgent').waitFor()
    await conflict.getByText('Status → Pending').waitFor()

    const reapplied = await callOf(page, 'PATCH', `/support/tickets/${ticket.id}`, () =>
      conflict.getByRole('button', { name: 'Apply my change to the new version' }).click(),
    )
    expect(reapplied.status()).toBe(200)
    expect(reapplied.request().headers()['if-match']).not.toBe(stale.request().headers()['if-match'])
    await conflict.waitFor({ state: 'detached' })
    await page.locator('#status-heading', { hasText: 'Pending' }).waitFor()
    await page.locator('#priority-heading', { hasText: 'Urgent' }).waitFor()

    // Both changes stand.
    const after = await apiExpect(200, 'GET', `/support/tickets/${ticket.id}`, { token: token('staff') })
    expect(after).toMatchObject({ status: 'pending', priority: 'urgent' })
  })

  test('moderation works from the keyboard alone with the shortcuts the page shows (j, k, a, h, r)', async () => {
    const tag = `Keyboard ${Date.now()}`
    const posts: { id: number; title: string }[] = []
    for (const name of ['one', 'two', 'three']) {
      const title = `${tag} ${name}`
      posts.push({ ...(await createPost(title, { pending: true })), title })
    }
    const [one, two, three] = posts as [(typeof posts)[0], (typeof posts)[0], (typeof posts)[0]]

    const page = await signIn('staff')
    await page.goto(`${server.url}/admin/moderation?q=${encodeURIComponent(tag)}`)
    await ready(page, 'Moderation queue')
    // The shortcuts are on screen and declared on the buttons.
    const legend = page.getByText('Keyboard:')
    for (const hint of ['j next', 'k previous', 'a approve', 'h hide', 'r reject']) {
      expect((await legend.textContent())?.replace(/\s+/g, ' ')).toContain(hint)
    }
    for (const [label, key] of [
      ['Approve', 'a'],
      ['Hide', 'h'],
      ['Reject', 'r'],
    ] as const) {
      const button = page
        .getByRole('region', { name: 'Moderation actions' })
        .getByRole('button', { name: label })
      expect(await button.getAttribute('aria-keyshortcuts')).toBe(key)
    }

    const card = (post: { title: string }) => page.locator('article.post', { hasText: post.title })
    const highlighted = (post: { title: string }) =>
      page.locator('article.post[aria-current="true"]', { hasText: post.title }).waitFor()
    const press = async (key: string, post: { id: number }) => {
      const response = await callOf(page, 'PATCH', `/community/posts/${post.id}`, () =>
        page.keyboard.press(key),
      )
      expect(response.status()).toBe(200)
    }

    await highlighted(one)
    await press('a', one)
    await card(one).getByRole('status').filter({ hasText: 'Approved' }).waitFor()
    await highlighted(two) // moved on by itself
    await page.keyboard.press('j')
    await highlighted(three)
    await press('r', three)
    await card(three).getByRole('status').filter({ hasText: 'Rejected' }).waitFor()
    await page.keyboard.press('k')
    await highlighted(two)
    await press('h', two)
    await card(two).getByRole('status').filter({ hasText: 'Hidden' }).waitFor()
    await page.getByRole('status').filter({ hasText: '3 done' }).waitFor()

    const statusOf = async (post: { id: number }) =>
      (await apiExpect(200, 'GET', `/community/posts/${post.id}`, { token: token('staff') })).status
    expect([await statusOf(one), await statusOf(two), await statusOf(three)]).toEqual([
      'published',
      'hidden',
      'rejected',
    ])
  })

  test('an account without the staff role is refused: no-access page, no console, API 403', async () => {
    const page = await signIn('member')
    await page.waitForURL((url) => url.pathname === '/admin/no-access')
    await ready(page, 'This account cannot use the admin console')
    const main = page.getByRole('main')
    await main.getByText(accounts.member.email).waitFor()
    expect(await main.locator('strong', { hasText: /^user$/ }).count()).toBe(1)
    await axe(page, 'no-access')
    await screenshot(page, 'no-access')

    // A deep link does not get them in either.
    await page.goto(`${server.url}/admin/moderation`)
    await page.waitForURL((url) => url.pathname === '/admin/no-access')
    await ready(page, 'This account cannot use the admin console')
    expect(await page.getByRole('navigation', { name: 'Console' }).count()).toBe(0)
    // Nor does the API, with the same cookie.
    const forbidden = await page.request.get(`${server.url}/api/v1/admin/sessions`)
    expect(forbidden.status()).toBe(403)
  })
})

describe('every page: axe-core finds no serious or critical violation; screenshots at 1280x800', () => {
  let ticketId: number
  /** One admin sign-in for the whole tour (the page is kept open across these tests). */
  let admin: Page

  beforeAll(async () => {
    ticketId = (await createTicket('Two-factor codes arrive late', 'urgent')).id
    // Something in the moderation queue (the flows above emptied theirs).
    await createPost('Weekly showcase: your best builds', { pending: true })
    await createPost('Is the editor slow for anyone else?', { pending: true })
    admin = await signIn('admin')
    contexts = contexts.filter((context) => context !== admin.context())
  })

  afterAll(async () => {
    await admin?.context().close()
  })

  test('login page', async () => {
    const page = await newPage()
    await page.goto(`${server.url}/admin/login`)
    await ready(page, 'NeoForge admin')
    await axe(page, 'login')
    await screenshot(page, 'login')
  })

  const pages: [name: string, path: () => string, heading: string | RegExp][] = [
    ['overview', () => '/admin/', 'Overview'],
    ['moderation', () => '/admin/moderation', 'Moderation queue'],
    ['support', () => '/admin/support', 'Support triage'],
    ['support-detail', () => `/admin/support/${ticketId}`, /Two-factor codes arrive late/],
    ['sessions', () => '/admin/sessions', 'Sessions'],
    ['status', () => '/admin/status', 'Status'],
    ['audit', () => '/admin/audit', 'Audit log'],
    ['users', () => '/admin/users', 'Users'],
  ]
  for (const [name, path, heading] of pages) {
    test(`${name} page`, async () => {
      await admin.goto(`${server.url}${path()}`)
      await ready(admin, heading)
      expect(new URL(admin.url()).pathname).toBe(path())
      await axe(admin, name)
      await screenshot(admin, name)
    })
  }

  test('overview at 1024x768 is usable (screenshot)', async () => {
    const page = await signIn('admin', { viewport: SMALL })
    await ready(page, 'Overview')
    // Nothing is cut off sideways at the smaller size.
    const overflow = await page.evaluate(() => {
      const root = (globalThis as any).document.documentElement
      return root.scrollWidth - root.clientWidth
    })
    expect(overflow).toBe(0)
    await screenshot(page, 'overview-1024x768')
  })
})
