import net from 'node:net'

/**
 * A counting TCP proxy in front of PostgreSQL, for bench/statements.ts: it forwards bytes as they
 * are and reads the frontend protocol on the way, per `application_name` (from the startup
 * message), counting what a client asks the server to do:
 *
 *   Parse (P)     a statement's text sent to be parsed and planned again (unprepared statements
 *                 send one per execution; a named prepared statement once per connection)
 *   Execute (E)   an extended-protocol statement run; Query (Q) a simple-protocol one (BEGIN/COMMIT)
 *   Sync (S), Flush (H), Query (Q)   each makes the server answer and the client wait: the number
 *                 of network round trips
 *
 * and, by text, every statement executed (a Bind names its prepared statement, whose text came
 * with its Parse), the transactions (autocommit statements plus BEGIN blocks) and the writes
 * (INSERT/UPDATE/DELETE statements). Only for counting: it adds latency, never use it in a
 * timed run.
 */

export interface WireCounts {
  parse: number
  bind: number
  execute: number
  simpleQuery: number
  roundTrips: number
  transactions: number
  writes: number
  /** Executions by statement text. */
  statements: Map<string, number>
}

const emptyCounts = (): WireCounts => ({
  parse: 0,
  bind: 0,
  execute: 0,
  simpleQuery: 0,
  roundTrips: 0,
  transactions: 0,
  writes: 0,
  statements: new Map(),
})

const SSL_REQUEST = 80877103
const CANCEL_REQUEST = 80877102
const GSS_REQUEST = 80877104

export async function startWireCounter(upstream: { host: string; port: number }) {
  const counts = new Map<string, WireCounts>()
  const countsFor = (app: string) => {
    let entry = counts.get(app)
    if (!entry) {
      entry = emptyCounts()
      counts.set(app, entry)
    }
    return entry
  }

  const server = net.createServer((client) => {
    const backend = net.connect(upstream.port, upstream.host)
    backend.pipe(client)
    backend.on('error', () => client.destroy())
    client.on('error', () => backend.destroy())
    client.on('close', () => backend.destroy())
    backend.on('close', () => client.destroy())

    let pending: Buffer = Buffer.alloc(0)
    let started = false
    let app = '(unknown)'
    const prepared = new Map<string, string>()
    let inTransaction = false
    const executed = (entry: WireCounts, text: string) => {
      entry.statements.set(text, (entry.statements.get(text) ?? 0) + 1)
      // A data-modifying WITH (the idempotent insert) counts as a write too.
      if (/^\s*(insert|update|delete)\b|\(\s*(insert|update|delete)\s/i.test(text)) entry.writes += 1
      if (/^\s*(begin|start transaction)\b/i.test(text)) {
        inTransaction = true
        entry.transactions += 1
      } else if (/^\s*(commit|rollback|end)\b/i.test(text)) inTransaction = false
      else if (!inTransaction) entry.transactions += 1
    }
    client.on('data', (chunk: Buffer) => {
      backend.write(chunk)
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
      for (;;) {
        if (!started) {
          if (pending.length < 8) return
          const length = pending.readInt32BE(0)
          if (pending.length < length) return
          const code = pending.readInt32BE(4)
          if (code !== SSL_REQUEST && code !== CANCEL_REQUEST && code !== GSS_REQUEST) {
            // Startup: protocol version, then name\0value\0 pairs.
            const fields = pending
              .subarray(8, length - 1)
              .toString('utf8')
              .split('\0')
            for (let i = 0; i + 1 < fields.length; i += 2) {
              if (fields[i] === 'application_name') app = fields[i + 1] as string
            }
            started = true
          }
          pending = pending.subarray(length)
          continue
        }
        if (pending.length < 5) return
        const type = String.fromCharCode(pending[0] as number)
        const length = pending.readInt32BE(1)
        if (pending.length < 1 + length) return
        const body = pending.subarray(5, 1 + length)
        const entry = countsFor(app)
        if (type === 'P') {
          entry.parse += 1
          const nameEnd = body.indexOf(0)
          const name = body.subarray(0, nameEnd).toString('utf8')
          prepared.set(name, body.subarray(nameEnd + 1, body.indexOf(0, nameEnd + 1)).toString('utf8'))
        } else if (type === 'B') {
          entry.bind += 1
          const portalEnd = body.indexOf(0)
          const name = body.subarray(portalEnd + 1, body.indexOf(0, portalEnd + 1)).toString('utf8')
          executed(entry, prepared.get(name) ?? '(unknown prepared statement)')
        } else if (type === 'E') entry.execute += 1
        else if (type === 'Q') {
          entry.simpleQuery += 1
          entry.roundTrips += 1
          executed(entry, body.subarray(0, body.length - 1).toString('utf8'))
        } else if (type === 'S' || type === 'H') entry.roundTrips += 1
        pending = pending.subarray(1 + length)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    /** The counts so far for `app`, and a fresh start. */
    take(app: string): WireCounts {
      const entry = counts.get(app) ?? emptyCounts()
      counts.set(app, emptyCounts())
      return entry
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
