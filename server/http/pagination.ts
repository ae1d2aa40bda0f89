import { and, asc, desc, eq, inArray, type SQL, sql } from 'drizzle-orm'
import type { AnyPgColumn, PgSelect, PgTable } from 'drizzle-orm/pg-core'
import { type TSchema, t } from 'elysia'
import { countAll, type Executor } from '../../db/client'
import { countedTotal } from '../../db/query'
import { validationFailed } from './problem'
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

/**
 * `after` / `before`: the keyset parameters of the lists that take them (the default lists, which
 * grow without bound). Their `Link` next/prev URLs carry them, so a client walking the pages reads
 * each one by seeking in an index instead of skipping `offset` rows.
 */
export const seekQuery = <S extends TSchema>(id: (options: { description: string }) => S) => ({
  after: t.Optional(
    id({
      description:
        'An item id, as `Link` rel="next" gives it: the page is the items right after it in the list’s order, and `page` still numbers it. An item no longer in the list falls back to `page`.',
    }),
  ),
  before: t.Optional(
    id({
      description: 'An item id, as `Link` rel="prev" gives it: the items right before it. Not with `after`.',
    }),
  ),
})

export type Seek = { after: string | number } | { before: string | number }

export interface PageRequest {
  page: number
  pageSize: number
  offset: number
  seek?: Seek
}

export function pageRequest(query: {
  page?: number
  page_size?: number
  after?: string | number
  before?: string | number
}): PageRequest {
  const page = query.page ?? 1
  const pageSize = query.page_size ?? DEFAULT_PAGE_SIZE
  const request: PageRequest = { page, pageSize, offset: (page - 1) * pageSize }
  if (query.after !== undefined && query.before !== undefined) {
    throw validationFailed([{ pointer: '/query/before', detail: 'Send after or before, not both.' }])
  }
  if (query.after !== undefined) request.seek = { after: query.after }
  if (query.before !== undefined) request.seek = { before: query.before }
  return request
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

/** The ids of a page's first and last items, for the keyset parameters of its prev/next links. */
export interface PageEdges {
  first: string
  last: string
}

/**
 * RFC 8288 `Link` with first/prev/next/last, keeping every other query parameter as it was. With
 * `edges`, next seeks `after` the page's last item and prev `before` its first (a page 1 needs
 * neither); first and last never carry a seek: both ends of a list are cheap to read.
 */
export function linkHeader(requestUrl: string, result: Page<unknown>, edges?: PageEdges): string {
  const url = new URL(requestUrl)
  const at = (n: number, seek?: ['after' | 'before', string]) => {
    url.searchParams.set('page', String(n))
    url.searchParams.set('page_size', String(result.page_size))
    url.searchParams.delete('after')
    url.searchParams.delete('before')
    if (seek) url.searchParams.set(...seek)
    return `<${url.pathname}${url.search}>`
  }
  const links = [`${at(1)}; rel="first"`]
  if (result.page > 1 && result.pages >= 1) {
    const previous = Math.min(result.page - 1, result.pages)
    const seek = edges && previous === result.page - 1 && previous > 1 ? edges.first : undefined
    links.push(`${at(previous, seek === undefined ? undefined : ['before', seek])}; rel="prev"`)
  }
  if (result.page < result.pages)
    links.push(`${at(result.page + 1, edges ? ['after', edges.last] : undefined)}; rel="next"`)
  if (result.pages >= 1) links.push(`${at(result.pages)}; rel="last"`)
  return links.join(', ')
}

/** Sets the `Link` header and returns the page as the body; `idOf` adds the keyset parameters. */
export function respondWithPage<T>(
  context: { request: Request; set: { headers: Record<string, unknown> } },
  result: Page<T>,
  idOf?: (item: T) => string | number,
): Page<T> {
  const first = result.items[0]
  const last = result.items.at(-1)
  const edges =
    idOf && first !== undefined && last !== undefined
      ? { first: String(idOf(first)), last: String(idOf(last)) }
      : undefined
  context.set.headers.link = linkHeader(context.request.url, result, edges)
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

/** A list's order: one sort column, then the id so that the order is total, both one way. */
export interface ListOrder {
  column: AnyPgColumn
  id: AnyPgColumn
  descending: boolean
}

export function listOrder<F extends string>(
  sort: F | `-${F}` | undefined,
  columns: Record<F, AnyPgColumn>,
  fallback: `-${F}` | F,
  id: AnyPgColumn,
): ListOrder {
  const value = sort ?? fallback
  const descending = value.startsWith('-')
  return { column: columns[(descending ? value.slice(1) : value) as F], id, descending }
}

/** ORDER BY of a list order; `reversed` reads the list from its end. */
export function orderSql(order: ListOrder, reversed = false): SQL[] {
  const direction = order.descending !== reversed ? desc : asc
  return [direction(order.column), direction(order.id)]
}

/** ORDER BY for a sort value, always ending on the id so that the order is total. */
export function orderBy<F extends string>(
  sort: F | `-${F}` | undefined,
  columns: Record<F, AnyPgColumn>,
  fallback: `-${F}` | F,
  id: AnyPgColumn,
): SQL[] {
  return orderSql(listOrder(sort, columns, fallback, id))
}

/** Below this offset a page is read by OFFSET in list order; beyond it, from the nearer end. */
const DEEP_OFFSET = 1000

/** One list as `readPage` reads it: its rows, filter, order and total. */
export interface ListSource {
  db: Executor
  /** The list's select with its joins, before where/order/limit: `db.select(...).from(...).$dynamic()`. */
  select(): PgSelect
  table: PgTable
  where: SQL | undefined
  order: ListOrder
  /** The `list_counts` scope whose total is the list's (`countScopes`), or null to count `where`. */
  counted: string | null
}

/** The true total of a list: its counter when it has one, else a count of what `where` matches. */
async function totalOf(list: ListSource): Promise<number> {
  if (list.counted !== null) return countedTotal(list.db, list.counted)
  const [row] = await list.db.select({ total: countAll }).from(list.table).where(list.where)
  return row?.total ?? 0
}

/**
 * CONTRACT §3 page of a list, read so that its cost does not grow with the list:
 * - with `after`/`before` (the Link next/prev): an index seek from that item, whatever the depth;
 *   if the item is gone or the list moved so that the page would come out short, `page` decides;
 * - a page past the middle is read from the far end in reverse (the last page is as cheap as
 *   the first), and one past the end reads no rows at all;
 * - other pages: OFFSET, which only random jumps deep into a huge list pay for; deep ones skip
 *   their rows in the index alone (a deferred join).
 * Page 1 and shallow pages read rows and total in parallel; deep ones need the total first.
 */
export async function readPage<Row>(request: PageRequest, list: ListSource): Promise<Page<Row>> {
  const { pageSize, offset, seek } = request
  const read = async (window: { limit: number; offset: number; reversed: boolean; from?: SQL }) => {
    const order = orderSql(list.order, window.reversed)
    if (window.offset < DEEP_OFFSET) {
      return (await list
        .select()
        .where(and(list.where, window.from))
        .orderBy(...order)
        .limit(window.limit)
        .offset(window.offset)) as Row[]
    }
    // A deferred join: the skipped rows are walked in the index alone (the ids), and only the
    // page's rows are fetched and joined, not every row that OFFSET passes over.
    const ids = list.db
      .select({ id: list.order.id })
      .from(list.table)
      .where(list.where)
      .orderBy(...order)
      .limit(window.limit)
      .offset(window.offset)
    return (await list
      .select()
      .where(inArray(list.order.id, ids))
      .orderBy(...order)) as Row[]
  }
  const readAt = async (total: number) => {
    if (offset >= total) return []
    const limit = Math.min(pageSize, total - offset)
    const fromEnd = total - offset - limit
    if (fromEnd >= offset) return read({ limit, offset, reversed: false })
    return (await read({ limit, offset: fromEnd, reversed: true })).reverse()
  }

  if (seek) {
    const before = 'before' in seek
    const boundary = 'before' in seek ? seek.before : seek.after
    const [rows, total] = await Promise.all([
      read({ limit: pageSize, offset: 0, reversed: before, from: seekFrom(list, boundary, before) }),
      totalOf(list),
    ])
    if (rows.length === Math.min(pageSize, Math.max(0, total - offset))) {
      return page(before ? rows.reverse() : rows, total, request)
    }
    return page(await readAt(total), total, request)
  }
  if (offset < DEEP_OFFSET) {
    const [rows, total] = await Promise.all([
      read({ limit: pageSize, offset, reversed: false }),
      totalOf(list),
    ])
    return page(rows, total, request)
  }
  const total = await totalOf(list)
  return page(await readAt(total), total, request)
}

/**
 * The rows strictly after (or before) the boundary item in list order: a row comparison on
 * (sort column, id) that the list's index serves as a range. The boundary is looked up under the
 * list's own filter, so an id outside the list (another owner's, or deleted) matches nothing.
 */
export function seekFrom(
  list: Pick<ListSource, 'table' | 'where' | 'order'>,
  boundary: string | number,
  before: boolean,
): SQL {
  const { column, id, descending } = list.order
  const operator = descending !== before ? sql`<` : sql`>`
  const edge = sql`(select ${column}, ${id} from ${list.table} where ${and(eq(id, boundary), list.where)})`
  return sql`(${column}, ${id}) ${operator} ${edge}`
}
