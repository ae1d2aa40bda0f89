import { describe, expect, test } from 'bun:test'
import { accessTokenSealer } from '../../../server/features/auth/tokens'

describe('access token seal', () => {
  const sealer = accessTokenSealer('a-secret-that-is-at-least-32-characters')
  const content = () => ({ sessionToken: crypto.randomUUID(), userId: crypto.randomUUID() })
  const inAMinute = () => new Date(Date.now() + 60_000)

  test('§7 a sealed token opens to what was sealed, and not after its expiry', () => {
    const sealed = content()
    const token = sealer.seal(sealed, inAMinute())
    expect(sealer.open(token)).toEqual(sealed)
    expect(sealer.open(token, Date.now() + 61_000)).toBeNull()
  })

  test('§7 a token has one spelling: any change to its last character is refused', () => {
    // base64 ignores the unused low bits of a final character; the seal must not.
    for (let i = 0; i < 100; i++) {
      const token = sealer.seal(content(), inAMinute())
      const last = token.length - 1
      for (const replacement of 'ABQgw') {
        if (token[last] !== replacement) expect(sealer.open(token.slice(0, last) + replacement)).toBeNull()
      }
    }
  })

  test('§7 an opened token is remembered, but never past its expiry', () => {
    const sealed = content()
    const token = sealer.seal(sealed, inAMinute())
    expect(sealer.open(token)).toEqual(sealed)
    // The second opening comes from memory; the expiry is still checked against the clock.
    expect(sealer.open(token)).toEqual(sealed)
    expect(sealer.open(token, Date.now() + 61_000)).toBeNull()
    expect(sealer.open(token)).toEqual(sealed)
  })

  test('§7 another secret cannot open the token', () => {
    const token = sealer.seal(content(), inAMinute())
    expect(accessTokenSealer('another-secret-that-is-32-characters-long').open(token)).toBeNull()
  })
})
