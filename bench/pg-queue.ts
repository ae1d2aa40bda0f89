import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type postgres from 'postgres'
import { machineLoad, PG_SERVER_URL, ROOT, round } from './lib'

/**
 * `bun bench/pg-queue.ts [--seconds=20] [--concurrency=64]`: the postgres-js 3.4.9 queue problem
 * of issue 7, item 5, reproduced without the app, and its fix measured.
 *
 * postgres-js keeps its connections in `Queue`s (src/queue.js). `shift()` leaves a hole at the
 * front and only resets the array when the queue becomes empty; `remove()` is `indexOf` from
 * position 0. While the pool is saturated, every query takes a busy connection with
 * `busy.shift()` and puts it back with `move(c, busy)`, whose `c.queue.remove(c)` scans every hole
 * left so far: the busy queue never empties, so each query costs a scan as long as the number of
 * queries since the pool was last idle. Throughput falls the longer the saturation lasts.
 *
 * This runs a pure query loop (`select 1`, `concurrency` loops over a pool of 10) and prints the
 * queries per second of each second, and how many queue slots `remove()` scanned per query,
 * first with a copy of the installed postgres-js (its queue.js only instrumented to count), then
 * with a copy whose queue.js compacts (searches from the live front, and drops the holes once
 * they are half the array). Both copies live in a temporary folder; node_modules is never modified.
 */

const args = process.argv.slice(2)
const option = (name: string, fallback: number) =>
  Number(args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const SECONDS = option('seconds', 20)
const CONCURRENCY = option('concurrency', 64)

/** The installed queue.js, logic unchanged, counting the array slots each remove() scans. */
const STOCK_QUEUE_COUNTED = (source: string) =>
  source.replace(
    'const index = xs.indexOf(x)',
    'const index = xs.indexOf(x); globalThis.__pgQueueScanned = (globalThis.__pgQueueScanned || 0) + (index === -1 ? xs.length : index + 1)',
  )

const PATCHED_QUEUE = `export default Queue

/** postgres-js's Queue, compacting: remove() searches from the live front, shift() drops holes. */
function Queue(initial = []) {
  let xs = initial.slice()
  let index = 0

  return {
    get length() {
      return xs.length - index
    },
    remove: (x) => {
      const at = xs.indexOf(x, index)
      globalThis.__pgQueueScanned = (globalThis.__pgQueueScanned || 0) + (at === -1 ? xs.length - index : at - index + 1)
      return at === -1
        ? null
        : (xs.splice(at, 1), x)
    },
    push: (x) => (xs.push(x), x),
    shift: () => {
      const out = xs[index++]

      if (index === xs.length) {
        index = 0
        xs = []
      } else {
        xs[index - 1] = undefined
        if (index >= 1024 && index * 2 >= xs.length) {
          xs = xs.slice(index)
          index = 0
        }
      }

      return out
    }
  }
}
`

const scanned = () => (globalThis as { __pgQueueScanned?: number }).__pgQueueScanned ?? 0

async function loop(label: string, make: typeof postgres) {
  const sql = make(PG_SERVER_URL, { max: 10, onnotice: () => {} })
  await sql`select 1`
  let done = 0
  let running = true
  const perSecond: number[] = []
  const scannedPerQuery: number[] = []
  const workers = Array.from({ length: CONCURRENCY }, async () => {
    while (running) {
      await sql`select 1`
      done += 1
    }
  })
  let last = 0
  let lastScanned = scanned()
  for (let s = 0; s < SECONDS; s++) {
    await Bun.sleep(1000)
    perSecond.push(done - last)
    scannedPerQuery.push((scanned() - lastScanned) / Math.max(1, done - last))
    last = done
    lastScanned = scanned()
  }
  running = false
  await Promise.all(workers)
  await sql.end({ timeout: 2 })
  const first = perSecond.slice(0, 3)
  const final = perSecond.slice(-3)
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
  console.log(
    `${label}:\n  queries/s by second: ${perSecond.join(' ')}\n  queue slots scanned by remove() per query, by second: ${scannedPerQuery.map((n) => round(n)).join(' ')}\n  first 3 s ${round(avg(first))}/s, last 3 s ${round(avg(final))}/s (${round((avg(final) / avg(first) - 1) * 100, 1)} %)`,
  )
}

console.log(`pg-queue: ${CONCURRENCY} loops of \`select 1\`, pool of 10, ${SECONDS} s each; ${machineLoad()}`)
/** A copy of the installed postgres-js in a temporary folder, with `queue` as its src/queue.js. */
async function copyWith(
  queue: (installed: string) => string,
): Promise<{ make: typeof postgres; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'postgres-copy-'))
  cpSync(join(ROOT, 'node_modules/postgres/src'), join(dir, 'src'), { recursive: true })
  writeFileSync(join(dir, 'package.json'), readFileSync(join(ROOT, 'node_modules/postgres/package.json')))
  writeFileSync(join(dir, 'src/queue.js'), queue(readFileSync(join(dir, 'src/queue.js'), 'utf8')))
  return { make: (await import(join(dir, 'src/index.js'))).default as typeof postgres, dir }
}

const stock = await copyWith(STOCK_QUEUE_COUNTED)
const patched = await copyWith(() => PATCHED_QUEUE)
try {
  await loop('postgres-js 3.4.9 (installed queue.js, instrumented)', stock.make)
  await loop('postgres-js 3.4.9 with a compacting queue.js', patched.make)
} finally {
  rmSync(stock.dir, { recursive: true, force: true })
  rmSync(patched.dir, { recursive: true, force: true })
}
