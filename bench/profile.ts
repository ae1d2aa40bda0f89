import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import {
  BENCH_DIR,
  BENCH_PROJECT_BODY,
  createBenchDatabase,
  login,
  machineLoad,
  ROOT,
  requireWrk,
  round,
  runWrk,
  seedStandard,
  startApp,
  withCleanup,
} from './lib'

/**
 * `bun bench/profile.ts [W1|W2|W3|W4|W5|W6|W7] [--seconds=10] [--top=30] [--file=X.cpuprofile]`: where the app's CPU goes under one
 * workload. Starts the app with Bun's sampling profiler (`bun --cpu-prof`), drives the workload
 * with wrk (64 connections), stops the app with SIGTERM (the profile is written on exit), and
 * prints the self time by function and by source file / package, heaviest first. The raw
 * `.cpuprofile` (Chrome DevTools format) stays in bench/profiles/ for a closer look.
 */

const args = process.argv.slice(2)
const workload = (args.find((arg) => /^W\d$/i.test(arg)) ?? 'W1').toUpperCase()
const seconds = Number(args.find((arg) => arg.startsWith('--seconds='))?.slice(10) ?? 10)
/** Re-summarize an existing profile instead of running: `--file=bench/profiles/X.cpuprofile`. */
const existing = args.find((arg) => arg.startsWith('--file='))?.slice(7)
const top = Number(args.find((arg) => arg.startsWith('--top='))?.slice(6) ?? 30)

requireWrk()

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

/** node_modules/<pkg> or the project-relative file a frame comes from. */
function origin(url: string): string {
  if (!url) return '(native / runtime)'
  const path = url.replace(/^file:\/\//, '')
  const modules = path.lastIndexOf('node_modules/')
  if (modules >= 0) {
    const rest = path.slice(modules + 'node_modules/'.length).split('/')
    return `node_modules/${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`
  }
  return path.startsWith(ROOT) ? relative(ROOT, path) : path
}

function summarize(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const selfByFunction = new Map<string, number>()
  const selfByOrigin = new Map<string, number>()
  const totalByOrigin = new Map<string, number>()
  const totalByAppFunction = new Map<string, number>()
  let total = 0
  profile.samples.forEach((sample, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    const node = byId.get(sample)
    if (!node) return
    total += dt
    const frame = node.callFrame
    const fn = `${frame.functionName || '(anonymous)'}  ${origin(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`
    selfByFunction.set(fn, (selfByFunction.get(fn) ?? 0) + dt)
    const own = origin(frame.url)
    selfByOrigin.set(own, (selfByOrigin.get(own) ?? 0) + dt)
    // inclusive: every distinct origin on the stack
    const seen = new Set<string>()
    for (let id: number | undefined = sample; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)?.callFrame
      const o = origin(f?.url ?? '')
      if (!seen.has(o)) {
        seen.add(o)
        totalByOrigin.set(o, (totalByOrigin.get(o) ?? 0) + dt)
      }
      // the project's own functions (server/, db/), inclusive of everything they call
      if (f && (o.startsWith('server/') || o.startsWith('db/'))) {
        const key = `${f.functionName || '(anonymous)'}  ${o}:${f.lineNumber + 1}`
        if (!seen.has(key)) {
          seen.add(key)
          totalByAppFunction.set(key, (totalByAppFunction.get(key) ?? 0) + dt)
        }
      }
    }
  })
  const ranked = (map: Map<string, number>) => [...map.entries()].sort((a, b) => b[1] - a[1])
  return {
    total,
    selfByFunction: ranked(selfByFunction),
    selfByOrigin: ranked(selfByOrigin),
    totalByOrigin: ranked(totalByOrigin),
    totalByAppFunction: ranked(totalByAppFunction),
  }
}

const post = { BENCH_METHOD: 'POST', BENCH_BODY: BENCH_PROJECT_BODY }
const paths: Record<
  string,
  (projectId: string) => {
    path: string
    auth: boolean
    env?: Record<string, string>
    script?: 'fixed.lua' | 'fresh-key.lua'
  }
> = {
  W1: (id) => ({ path: `/api/v1/projects/${id}`, auth: true }),
  W2: () => ({ path: '/api/v1/projects?page=1&page_size=20', auth: true }),
  W3: (id) => ({ path: `/api/v1/projects/${id}`, auth: true, env: { BENCH_IF_NONE_MATCH: '"v1"' } }),
  W4: () => ({
    path: '/api/v1/projects',
    auth: true,
    env: { ...post, BENCH_KEY_PREFIX: `profile-${Date.now().toString(36)}` },
    script: 'fresh-key.lua',
  }),
  // The first request of the run stores the key; every later one replays it.
  W5: () => ({ path: '/api/v1/projects', auth: true, env: { ...post, BENCH_IDEMPOTENCY_KEY: 'profile-w5' } }),
  W6: () => ({ path: '/api/v1/status', auth: false }),
  W7: () => ({ path: '/api/v1/community/posts', auth: false }),
}

function report(path: string) {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile
  const summary = summarize(profile)
  const pct = (us: number) => `${round((us / summary.total) * 100, 1)}%`.padStart(6)
  console.log(
    `\nprofile: ${relative(ROOT, path)}: ${round(summary.total / 1e6, 2)} s sampled, ${profile.samples.length} samples`,
  )
  console.log(`\nself time by source (file or package):`)
  for (const [key, us] of summary.selfByOrigin.slice(0, top)) console.log(`  ${pct(us)}  ${key}`)
  console.log(`\ninclusive time by source (on the stack anywhere):`)
  for (const [key, us] of summary.totalByOrigin.slice(0, top)) console.log(`  ${pct(us)}  ${key}`)
  console.log(`\ninclusive time by the project's own functions (server/, db/):`)
  for (const [key, us] of summary.totalByAppFunction.slice(0, top)) console.log(`  ${pct(us)}  ${key}`)
  console.log(`\nself time by function:`)
  for (const [key, us] of summary.selfByFunction.slice(0, top)) console.log(`  ${pct(us)}  ${key}`)
}

if (existing) {
  report(existing)
  process.exit(0)
}

await withCleanup(async (defer) => {
  const shape = paths[workload]
  if (!shape) throw new Error(`profile: no workload ${workload} (one of ${Object.keys(paths).join(', ')})`)
  const dir = join(BENCH_DIR, 'profiles')
  mkdirSync(dir, { recursive: true })
  const name = `${workload}-${Date.now().toString(36)}.cpuprofile`
  const database = await createBenchDatabase()
  defer(() => database.drop())
  const { projectId } = await seedStandard(database.sql)
  const app = await startApp(database.url, {}, [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    `--cpu-prof-name=${name}`,
  ])
  defer(() => app.stop())
  const token = await login(app.url)
  const { path, auth, env, script = 'fixed.lua' } = shape(projectId)
  console.log(`profile: ${workload} ${path} for ${seconds} s; ${machineLoad()}`)
  const result = await runWrk({
    url: `${app.url}${path}`,
    script,
    seconds,
    env: { ...(auth ? { BENCH_TOKEN: token } : {}), ...(env ?? {}) },
  })
  console.log(
    `profile: ${round(result.rps)} req/s, p50 ${round(result.p50Ms, 2)} ms, p99 ${round(result.p99Ms, 2)} ms`,
  )
  await app.stop()
  const file = readdirSync(dir).find((f) => f === name)
  if (!file) throw new Error(`profile: no ${name} in ${dir}; app output:\n${app.output()}`)
  report(join(dir, file))
})
