import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'

/**
 * The secrets a client holds, and what the server keeps of them:
 * - a session token (32 random bytes): only its SHA-256 is stored, as lucia's session id;
 * - an access token: the session token, the user id and an expiry sealed with AES-256-GCM under a
 *   key derived from APP_SECRET, so it cannot be forged or read, dies at its expiry (<= 15 min),
 *   and dies at once with its session because every request validates the session it carries.
 *   The user id lets the rate limiter key a request by principal without a database read;
 * - a refresh token (32 random bytes): only its SHA-256 is stored.
 */

const ACCESS_PREFIX = 'nfa_'
const REFRESH_PREFIX = 'nfr_'

export const sha256Hex = (value: string) => createHash('sha256').update(value).digest('hex')

export const newSessionToken = () => randomBytes(32).toString('base64url')
export const newRefreshToken = () => REFRESH_PREFIX + randomBytes(32).toString('base64url')

export interface AccessTokenContent {
  sessionToken: string
  userId: string
}

export interface AccessTokenSealer {
  seal(content: AccessTokenContent, expiresAt: Date): string
  /** What a valid, unexpired access token carries; null for anything else. */
  open(accessToken: string, now?: number): AccessTokenContent | null
}

/** How many opened access tokens a process remembers (a few MB at most). */
const OPENED_CACHE_SIZE = 10_000

export function accessTokenSealer(appSecret: string): AccessTokenSealer {
  const key = createHash('sha256').update(`neoforge:access-token:v1:${appSecret}`).digest()
  /**
   * Opening is a pure function of the token under this key, and a client sends the same token on
   * every request for up to 15 minutes, twice per request (rate limiter, then authentication): the
   * decryption is done once per token. Only the seal's content is remembered; the expiry is checked
   * on every call and the session behind it is still validated in the database on every request.
   */
  const opened = new Map<string, { content: AccessTokenContent; expiresAtMs: number }>()
  const remember = (token: string, content: AccessTokenContent, expiresAtMs: number) => {
    if (opened.size >= OPENED_CACHE_SIZE) opened.delete(opened.keys().next().value as string)
    opened.set(token, { content, expiresAtMs })
  }
  return {
    seal({ sessionToken, userId }, expiresAt) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      const plain = Buffer.from(`${Math.floor(expiresAt.getTime() / 1000)}.${userId}.${sessionToken}`)
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()])
      return ACCESS_PREFIX + sealed.toString('base64url')
    },
    open(accessToken, now = Date.now()) {
      const known = opened.get(accessToken)
      if (known) return known.expiresAtMs > now ? known.content : null
      if (!accessToken.startsWith(ACCESS_PREFIX) || accessToken.length > 512) return null
      const encoded = accessToken.slice(ACCESS_PREFIX.length)
      const sealed = Buffer.from(encoded, 'base64url')
      // Only the canonical encoding: base64 tolerates other characters in its unused last bits, and
      // a token must not have several spellings.
      if (sealed.length < 12 + 16 + 3 || sealed.toString('base64url') !== encoded) return null
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12))
        decipher.setAuthTag(sealed.subarray(sealed.length - 16))
        const plain = Buffer.concat([
          decipher.update(sealed.subarray(12, sealed.length - 16)),
          decipher.final(),
        ]).toString()
        const [expiry, userId, sessionToken] = plain.split('.')
        const expiresAtMs = Number(expiry) * 1000
        if (!userId || !sessionToken || !(expiresAtMs > now)) return null
        const content = { sessionToken, userId }
        remember(accessToken, content, expiresAtMs)
        return content
      } catch {
        return null
      }
    },
  }
}
