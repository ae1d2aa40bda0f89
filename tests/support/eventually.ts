/**
 * Retries `check` until it stops throwing. For effects that happen after a response is sent
 * (Elysia's afterResponse: metrics, the access log), which have no event a test can await.
 */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await Bun.sleep(10)
    }
  }
}
