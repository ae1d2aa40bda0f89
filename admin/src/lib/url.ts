import { goto } from '$app/navigation'

/**
 * Filters live in the URL, so every view is shareable and the back button works. Empty values are
 * dropped (the API refuses `status=`), and a change of filter goes back to page 1.
 */

/** What the helpers read of a URL: `page.url` (read-only) and a load's `url` both fit. */
export interface UrlLike {
  pathname: string
  search: string
  searchParams: { get(name: string): string | null }
}

export function searchWith(url: { search: string }, changes: Record<string, string | number | null | undefined>): string {
  const params = new URLSearchParams(url.search)
  const changesPage = Object.hasOwn(changes, 'page')
  for (const [name, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === '') params.delete(name)
    else params.set(name, String(value))
  }
  if (!changesPage) params.delete('page')
  const search = params.toString()
  return search ? `?${search}` : '?'
}

/** Navigates to the same page with other filters, keeping focus where it is. */
export function applyFilters(changes: Record<string, string | number | null | undefined>, url: UrlLike) {
  return goto(`${url.pathname}${searchWith(url, changes)}`, { reset: false })
}

/** A GET form's fields as filters: `onsubmit={submitFilters(page.url)}`. */
export function submitFilters(url: UrlLike) {
  return (event: SubmitEvent) => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    const changes: Record<string, string> = {}
    for (const [name, value] of new FormData(form)) {
      if (typeof value === 'string') changes[name] = value.trim()
    }
    void applyFilters(changes, url)
  }
}

/** A string search parameter, or undefined when absent or empty. */
export function param(url: UrlLike, name: string): string | undefined {
  const value = url.searchParams.get(name)
  return value === null || value.trim() === '' ? undefined : value.trim()
}

/** An integer search parameter; anything else is passed through so that the API answers 422. */
export function intParam(url: UrlLike, name: string): number | undefined {
  const value = param(url, name)
  if (value === undefined) return undefined
  return /^-?\d+$/.test(value) ? Number(value) : (Number.NaN as number)
}

/** `page` and `page_size` from the URL (CONTRACT §3). */
export function pageParams(url: UrlLike, pageSize = 20): { page: number; page_size: number } {
  return { page: intParam(url, 'page') ?? 1, page_size: intParam(url, 'page_size') ?? pageSize }
}

/** `true`/`false` search parameters. */
export function boolParam(url: UrlLike, name: string): boolean | undefined {
  const value = param(url, name)
  if (value === 'true') return true
  if (value === 'false') return false
  return undefined
}
