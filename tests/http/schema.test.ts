import { describe, expect, test } from 'bun:test'
import { FormatRegistry } from '@sinclair/typebox'
import '../../server/http/schema'

describe('strict formats', () => {
  const dateTime = FormatRegistry.Get('date-time') as (value: string) => boolean

  test('RFC 3339 date-time: a full date, time and offset that name a real instant', () => {
    for (const valid of [
      '2026-11-27T19:48:55.123Z',
      '2026-01-31T00:00:00Z',
      '2028-02-29T12:00:00+02:00',
      '2026-04-30T23:59:59-05:30',
    ]) {
      expect({ valid, ok: dateTime(valid) }).toEqual({ valid, ok: true })
    }
    for (const invalid of [
      '2026-02-29T00:00:00Z',
      '2026-02-30T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-01-01',
      '2026-01-01T00:00:00',
      '2026-01-01T24:00:00Z',
      'Fri Dec 04 2026 01:00:00 GMT+0000',
    ]) {
      expect({ invalid, ok: dateTime(invalid) }).toEqual({ invalid, ok: false })
    }
  })
})
