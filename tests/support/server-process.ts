import type { Subprocess } from 'bun'

/**
 * A real `bun server/index.ts` process, for what `app.handle` cannot show: several instances on
 * one database, SIGKILL and restart, SIGTERM draining.
 */
export interface ServerProcess {
  url: string
  port: number
  process: Subprocess
  output(): string
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

const ROOT = new URL('../../', import.meta.url).pathname

/** A port nothing listens on right now: the kernel's choice for a throwaway listener. */
function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const { port } = probe
  probe.stop(true)
  return port
}

/**
 * Starts the server on a free port; a port taken between the probe and the listen (an outbound
 * connection may grab it) is retried on another one.
 */
export async function startServer(
  env: Record<string, string>,
  options: { readyTimeoutMs?: number } = {},
): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOn(freePort(), env, options)
    } catch (error) {
      if (attempt >= 3 || !String(error).includes('EADDRINUSE')) throw error
    }
  }
}

async function startServerOn(
  port: number,
  env: Record<string, string>,
  options: { readyTimeoutMs?: number },
): Promise<ServerProcess> {
  let output = ''
  const child = Bun.spawn(['bun', 'server/index.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      NODE_ENV: 'test',
      APP_SECRET: 'test-secret-that-is-at-least-32-characters-long',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      HOST: '127.0.0.1',
      ...env,
    },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    for await (const chunk of stream) output += decoder.decode(chunk)
  }
  void collect(child.stdout as ReadableStream<Uint8Array>)
  void collect(child.stderr as ReadableStream<Uint8Array>)

  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000)
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}`)
    try {
      const res = await fetch(`${url}/ready`)
      if (res.status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`server not ready in time:\n${output}`)
    }
    await Bun.sleep(100) // polling a port that has no event to await
  }
  return {
    url,
    port,
    process: child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal)
      return child.exited
    },
  }
}
