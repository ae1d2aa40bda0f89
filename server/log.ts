import type { LogLevel } from './config'

/** One JSON object per line on stdout (CONTRACT §1). */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  /** Whether lines at `level` are written: lets a per-request logger skip building them. */
  enabled(level: Exclude<LogLevel, 'silent'>): boolean
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stdout.write(line),
): Logger {
  const emit = (at: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: Record<string, unknown>) => {
    if (rank[at] < rank[level]) return
    write(`${JSON.stringify({ level: at, time: new Date().toISOString(), msg, ...fields })}\n`)
  }
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    enabled: (at) => rank[at] >= rank[level],
  }
}

/** Error fields for a log line: the stack stays in the log, never in a response. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof Error)
    return { error: { name: error.name, message: error.message, stack: error.stack } }
  return { error: String(error) }
}
