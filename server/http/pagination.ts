import { asc, desc, type SQL } from 'drizzle-orm'
import type { AnyPgColumn } from 'drizzle-orm/pg-core'
import { t } from 'elysia'
import { enumOf } from './schema'

/** CONTRACT §3: the one pagination helper every list endpoint uses. */
export const DEFAULT_PAGE_SIZE = 20
export const MAX_PAGE_SIZE = 100

export const pageQuery = {
  page: t.Optional(t.Integer({ minimum: 1, maximum: 1_000_000, description: 'Page number, from 1.' })),
  page_size: t.Optional(
    t.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, description: `Items per page, 1..${MAX_PAGE_SIZE}.` }),
  ),
}

/** The response envelope of every list, for the OpenAPI document. */
export const pageOf = <T extends Parameters<typeof t.Array>[0]>(item: T) =>
  t.Object({
    items: t.Array(item),
    total: t.Integer({ minimum: 0 }),
    page: t.Integer({ minimum: 1 }),
    page_size: t.Integer({ minimum: 1 }),
    pages: t.Integer({ minimum: 0 }),
  })

export interface PageRequest {
  page: number
  pageSize: number
  offset: number
}

export function pageRequest(query: { page?: number; page_size?: number }): PageRequest {
  const page = query.page ?? 1
  const pageSize = query.page_size ?? DEFAULT_PAGE_SIZE
  return { page, pageSize, offset: (page - 1) * pageSize }
}

export interface Page<T> {
  items: T[]
  total: number
  page: number
  page_size: number
  pages: number
}

export function page<T>(items: T[], total: number, request: PageRequest): Page<T> {
  return {
    items,
    total,
    page: request.page,
    page_size: request.pageSize,
    pages: Math.ceil(total / request.pageSize),
  }
}

/** RFC 8288 `Link` with first/prev/next/last, keeping every other query parameter as it was. */
export function linkHeader(requestUrl: string, result: Page<unknown>): string {
  const url = new URL(requestUrl)
  const at = (n: number) => {
    url.searchParams.set('page', String(n))
    url.searchParams.set('page_size', String(result.page_size))
    return `<${url.pathname}${url.search}>`
  }
  const links = [`${at(1)}; rel="first"`]
  if (result.page > 1 && result.pages >= 1)
    links.push(`${at(Math.min(result.page - 1, result.pages))}; rel="prev"`)
  if (result.page < result.pages) links.push(`${at(result.page + 1)}; rel="next"`)
  if (result.pages >= 1) links.push(`${at(result.pages)}; rel="last"`)
  return links.join(', ')
}

/** Sets the `Link` header and returns the page as the body. */
export function respondWithPage<T>(
  context: { request: Request; set: { headers: Record<string, unknown> } },
  result: Page<T>,
): Page<T> {
  context.set.headers.link = linkHeader(context.request.url, result)
  return result
}

/** `sort=name` / `sort=-created_at` for the fields a list allows. */
export const sortQuery = <const F extends string>(fields: readonly F[]) =>
  t.Optional(
    enumOf(
      [...fields, ...fields.map((field) => `-${field}` as `-${F}`)] as unknown as [
        F | `-${F}`,
        ...(F | `-${F}`)[],
      ],
      {
        description: `One of ${fields.join(', ')}; prefix with - for descending.`,
      },
    ),
  )

/** ORDER BY for a sort value, always ending on the id so that the order is total. */
export function orderBy<F extends string>(
  sort: F | `-${F}` | undefined,
  columns: Record<F, AnyPgColumn>,
  fallback: `-${F}` | F,
  id: AnyPgColumn,
): SQL[] {
  const value = sort ?? fallback
  const descending = value.startsWith('-')
  const column = columns[(descending ? value.slice(1) : value) as F]
  return [descending ? desc(column) : asc(column), descending ? desc(id) : asc(id)]
}
