import { defineConfig } from 'drizzle-kit'

// Generation only diffs db/schema.ts against the committed snapshots; it needs no database.
export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema.ts',
  out: './db/migrations',
})
