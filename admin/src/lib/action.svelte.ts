import { type ApiError, isApiError, Keys } from './api.ts'

/**
 * One kind of user action (save priority, revoke a session, post an event): its state for the UI
 * (`pending`, `error`) and its Idempotency-Key. While it runs, running it again with the same
 * arguments (a double click, Enter pressed twice) returns the same promise and sends nothing; a
 * retry of a failed run with the same arguments reuses the key, so the server replays what it may
 * already have done. A success forgets the key.
 */
export class Action<A extends unknown[], R> {
  pending = $state(false)
  error = $state<ApiError | null>(null)
  #keys = new Keys()
  #inflight = new Map<string, Promise<R | undefined>>()
  readonly #run: (key: string, ...args: A) => Promise<R>

  constructor(run: (key: string, ...args: A) => Promise<R>) {
    this.#run = run
  }

  /** Resolves to the result, or to undefined when the action failed (see `error`). */
  run = (...args: A): Promise<R | undefined> => {
    const fingerprint = JSON.stringify(args)
    const running = this.#inflight.get(fingerprint)
    if (running) return running
    const key = this.#keys.for(fingerprint)
    this.pending = true
    this.error = null
    const promise = this.#run(key, ...args)
      .then(
        (result) => {
          this.#keys.done(fingerprint)
          return result
        },
        (cause: unknown) => {
          if (!isApiError(cause)) throw cause
          this.error = cause
          return undefined
        },
      )
      .finally(() => {
        this.#inflight.delete(fingerprint)
        this.pending = this.#inflight.size > 0
      })
    this.#inflight.set(fingerprint, promise)
    return promise
  }

  reset(): void {
    this.error = null
  }
}
