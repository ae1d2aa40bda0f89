import { error, redirect } from '@sveltejs/kit'
import { resolve } from '$app/paths'
import { isApiError } from './api.ts'

/** Where the sign-in page sends a person back to after signing in. */
export function loginHref(url: { pathname: string; search: string }): string {
  const next = `${url.pathname}${url.search}`
  return `${resolve('login')}?next=${encodeURIComponent(next)}`
}

/** Where to go after signing in: only a path inside the console (never another site). */
export function nextPath(url: { searchParams: { get(name: string): string | null } }): string {
  const next = url.searchParams.get('next')
  const root = consoleRoot()
  return next !== null && (next === root || next.startsWith(`${root}/`)) ? next : root
}

/** The console's own path, `/admin`. */
export const consoleRoot = () => resolve('').replace(/\/$/, '')

/**
 * Runs a load function's API calls: a 401 (signed out, session revoked or expired) goes to the
 * sign-in page and back; any other failure becomes the page's error, with the problem's code and
 * request id for the error page to show.
 */
export async function guard<T>(url: URL, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (cause) {
    if (isApiError(cause)) {
      if (cause.status === 401) redirect(307, loginHref(url))
      error(cause.status >= 400 && cause.status <= 599 ? cause.status : 503, cause.summary, {
        code: cause.code,
        request_id: cause.requestId,
        retry_after: cause.retryAfter,
        errors: cause.fieldErrors,
      })
    }
    throw cause
  }
}
