import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import { openDatabase } from '../db/client'
import { projects } from '../db/schema'
import { BENCH_USER_ID, createBenchDatabase, round, seedUser, withCleanup } from './lib'

/**
 * `bun bench/round-trips.ts [--seconds=4]`: what one round trip to PostgreSQL costs this process
 * in CPU, the unit W4's cost is made of (docs/performance.md). Loops of statements from 64
 * concurrent callers on a pool of 10, as the app runs, and from one caller (nothing to pipeline),
 * through bare postgres-js and through the app's drizzle handle: a `select 1`, an insert into
 * `projects` (its commit waits for the WAL flush), and a transaction of begin, three statements and
 * commit. Prints CPU µs per operation (user + system) and operations per second.
 */

const seconds = Number(
  process.argv.find((arg) => arg.startsWith('--seconds='))?.slice('--seconds='.length) ?? 4,
)

async function loop(label: string, callers: number, operation: () => Promise<unknown>) {
  let done = 0
  const until = Date.now() + seconds * 1000
  const before = process.cpuUsage()
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (Date.now() < until) {
        await operation()
        done++
      }
    }),
  )
  const cpu = process.cpuUsage(before)
  console.log(
    `| ${label} | ${callers} | ${round(done / seconds)} | ${round((cpu.user + cpu.system) / done)} | ${round(cpu.user / done)} | ${round(cpu.system / done)} |`,
  )
}

await withCleanup(async (defer) => {
  const database = await createBenchDatabase('neoforge_round_trips')
  defer(() => database.drop())
  await seedUser(database.sql)
  const bare = postgres(database.url, { max: 10, onnotice: () => {} })
  defer(() => bare.end({ timeout: 2 }))
  const handle = await openDatabase({ url: database.url }, { max: 10 })
  defer(() => handle.close())
  const { db } = handle
  const owner = BENCH_USER_ID

  console.log(`round trips: ${seconds} s per loop; CPU of this process per operation\n`)
  console.log('| Operation | callers | ops/s | CPU µs/op | user | system |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
  for (const callers of [1, 64]) {
    await loop('postgres-js: select 1', callers, () => bare`select 1`)
  }
  await loop('drizzle: select 1', 64, () => db.execute(sql`select 1`))
  await loop(
    'postgres-js: insert a project',
    64,
    () => bare`insert into projects (owner_id, name) values (${owner}, 'x')`,
  )
  await loop('drizzle: insert a project, returning it', 64, () =>
    db.insert(projects).values({ ownerId: owner, name: 'x' }).returning(),
  )
  await loop('postgres-js: begin, 3 statements, commit', 64, () =>
    bare.begin(async (tx) => {
      await tx`select 1`
      await tx`insert into projects (owner_id, name) values (${owner}, 'x')`
      await tx`select 2`
    }),
  )
  await loop('drizzle: begin, 3 statements, commit', 64, () =>
    db.transaction(async (tx) => {
      await tx.execute(sql`select 1`)
      await tx.insert(projects).values({ ownerId: owner, name: 'x' }).returning()
      await tx.execute(sql`select 2`)
    }),
  )
})
