import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type postgres from 'postgres'
import { machineLoad, PG_SERVER_URL, round, ROOT } from './lib'

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
 * queries per second of each second, first with the installed postgres-js, then with a copy of
 * it in a temporary folder whose queue.js compacts (searches from the live front, and drops the
 * holes once they are half the array). node_modules is never modified.
 */

const args = process.argv.slice(2)
const option = (name: string, fallback: number) =>
  Number(args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback)
const SECONDS = option('seconds', 20)
const CONCURRENCY = option('concurrency', 64)

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

async function loop(label: string, make: typeof postgres) {
  const sql = make(PG_SERVER_URL, { max: 10, onnotice: () => {} })
  await sql`select 1`
  let done = 0
  let running = true
  const perSecond: number[] = []
  const workers = Array.from({ length: CONCURRENCY }, async () => {
    while (running) {
      await sql`select 1`
      done += 1
    }
  })
  let last = 0
  for (let s = 0; s < SECONDS; s++) {
    await Bun.sleep(1000)
    perSecond.push(done - last)
    last = done
  }
  running = false
  await Promise.all(workers)
  await sql.end({ timeout: 2 })
  const first = perSecond.slice(0, 3)
  const final = perSecond.slice(-3)
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
  console.log(
    `${label}: queries/s by second: ${perSecond.join(' ')}\n  first 3 s ${round(avg(first))}/s, last 3 s ${round(avg(final))}/s (${round((avg(final) / avg(first) - 1) * 100, 1)} %)`,
  )
}

console.log(`pg-queue: ${CONCURRENCY} loops of \`select 1\`, pool of 10, ${SECONDS} s each; ${machineLoad()}`)
const stock = (await import('postgres')).default
await loop('postgres-js 3.4.9 as installed', stock)

const dir = mkdtempSync(join(tmpdir(), 'postgres-patched-'))
try {
  cpSync(join(ROOT, 'node_modules/postgres/src'), join(dir, 'src'), { recursive: true })
  writeFileSync(join(dir, 'package.json'), readFileSync(join(ROOT, 'node_modules/postgres/package.json')))
  writeFileSync(join(dir, 'src/queue.js'), PATCHED_QUEUE)
  const patched = (await import(join(dir, 'src/index.js'))).default as typeof postgres
  await loop('postgres-js 3.4.9 with a compacting queue.js', patched)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
