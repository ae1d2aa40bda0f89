import { Elysia } from 'elysia'
import { requestMeta } from './request-id'

/**
 * CONTRACT §6: the client is the socket peer, unless `TRUST_PROXY=n` says the last n hops of
 * `X-Forwarded-For` were added by our own proxies, in which case it is the address they saw.
 */
export function resolveClientIp(
  socketIp: string | undefined,
  forwardedFor: string | null,
  trustProxy: number,
): string {
  const peer = socketIp ?? 'unknown'
  if (trustProxy === 0 || !forwardedFor) return peer
  const hops = forwardedFor
    .split(',')
    .map((hop) => hop.trim())
    .filter(Boolean)
  // The socket peer is the nearest proxy; each trusted hop before it is one more proxy.
  const chain = [...hops, peer]
  return chain[Math.max(0, chain.length - 1 - trustProxy)] ?? peer
}

export const clientIp = (trustProxy: number) =>
  new Elysia({ name: 'client-ip' })
    .onRequest(({ request, server }) => {
      requestMeta(request).resolveIp = () =>
        resolveClientIp(
          server?.requestIP(request)?.address,
          request.headers.get('x-forwarded-for'),
          trustProxy,
        )
    })
    .as('global')

export function clientIpOf(request: Request): string {
  const meta = requestMeta(request)
  meta.ip ??= meta.resolveIp?.()
  return meta.ip ?? 'unknown'
}
