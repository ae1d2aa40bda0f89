import { FormatRegistry } from '@sinclair/typebox'
import { t } from 'elysia'

/**
 * One of a fixed set of strings. Elysia's `t.UnionEnum` carries `default: <first value>`, which
 * Elysia then fills in for a missing optional value (a missing `sort` became `created_at`, a
 * missing filter became its first value); this is the same type without that default.
 */
export function enumOf<const T extends readonly [string, ...string[]]>(
  values: T,
  options: { description?: string } = {},
) {
  return t.UnionEnum(values as unknown as [T[number], ...T[number][]], { ...options, default: undefined })
}

/**
 * Stricter formats than Elysia's defaults, for every schema in the app (the registry is global):
 * - `uuid`: Elysia also accepts a `urn:uuid:` prefix, which PostgreSQL then rejects with a 500;
 * - `date-time`: Elysia also accepts bare dates and `Date#toString()` output; RFC 3339 needs a
 *   full date, time and offset.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const RFC3339 =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/i
FormatRegistry.Set('uuid', (value) => UUID.test(value))
const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate()
// The pattern bounds every field; only a day past the 28th can still name no date (02-29 outside
// leap years, 04-31), which Date.parse would quietly roll over into the next month. Every
// timestamp of every response passes through here, so the common case stays a regex.
FormatRegistry.Set('date-time', (value) => {
  if (!RFC3339.test(value)) return false
  const day = Number(value.slice(8, 10))
  return day <= 28 || day <= daysInMonth(Number(value.slice(0, 4)), Number(value.slice(5, 7)))
})
