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
