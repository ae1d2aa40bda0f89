// Loaded once per `bun test` process (bunfig.toml): nothing to do eagerly; the database template
// is built lazily by tests/support/databases.ts the first time a test file asks for one.
process.env.NODE_ENV ??= 'test'
