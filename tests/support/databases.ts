import postgres from 'postgres'
import { type DatabaseHandle, openDatabase } from '../../db/client'
import { migrate } from '../../db/migrate'

/**
 * Test databases. PGlite always; PostgreSQL too when TEST_DATABASE_URL names a server. Each test
 * file gets its own database: PGlite clones a migrated template (migrating once per process),
 * PostgreSQL gets a fresh database created on that server and dropped afterwards.
 */
export type DatabaseKind = 'pglite' | 'postgres'

export const databaseKinds: DatabaseKind[] = process.env.TEST_DATABASE_URL
  ? ['pglite', 'postgres']
  : ['pglite']

let pgliteTemplate: Promise<Blob> | undefined

async function migratedPgliteTemplate(): Promise<Blob> {
  const template = await openDatabase({ dataDir: null })
  await migrate(template)
  if (!template.dump) throw new Error('PGlite handles can always dump')
  const dump = await template.dump()
  await template.close()
  return dump
}

export interface TestDatabase {
  handle: DatabaseHandle
  kind: DatabaseKind
  /** The server URL of this database (PostgreSQL only), for tests that start processes. */
  url: string | null
  drop(): Promise<void>
}

export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  if (kind === 'pglite') {
    pgliteTemplate ??= migratedPgliteTemplate()
    const handle = await openDatabase({ dataDir: null, loadDataDir: await pgliteTemplate })
    return { handle, kind, url: null, drop: () => handle.close() }
  }
  const serverUrl = process.env.TEST_DATABASE_URL as string
  const name = `neoforge_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database "${name}"`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  const handle = await openDatabase({ url: url.toString() }, { max: 5 })
  await migrate(handle)
  return {
    handle,
    kind,
    url: url.toString(),
    async drop() {
      await handle.close()
      await admin.unsafe(`drop database if exists "${name}" with (force)`)
      await admin.end()
    },
  }
}
