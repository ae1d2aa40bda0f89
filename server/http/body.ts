import { Elysia } from 'elysia'
import { badRequest, HttpError } from './problem'

/** CONTRACT §1: bodies over 1 MiB are 413. */
export const MAX_BODY_BYTES = 1024 * 1024

export interface BodyOptions {
  /** Media types a path accepts besides JSON, e.g. the OAuth2 form on `/auth/token`. */
  extraMediaTypes?: Record<string, { types: string[]; maxBytes?: number }>
}

const payloadTooLarge = (limit: number) =>
  new HttpError(413, 'payload_too_large', `The request body is larger than ${limit} bytes.`)
const unsupportedMediaType = (mediaType: string, accepted: string[]) =>
  new HttpError(
    415,
    'unsupported_media_type',
    `${mediaType ? `Content-Type ${mediaType} is` : 'A body without Content-Type is'} not accepted here; send ${accepted.join(' or ')}.`,
    { headers: { 'accept-post': accepted.join(', ') } },
  )

/**
 * The only body parser: enforces the size limit (by header and while streaming, for chunked
 * bodies), accepts JSON everywhere and other media types only where a path opts in, and turns
 * malformed JSON into `400 malformed_body`. Elysia's own parsers never run.
 */
export const body = (options: BodyOptions = {}) =>
  new Elysia({ name: 'body' })
    .onParse(async ({ request, path }, contentType) => {
      const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? ''
      const extra = options.extraMediaTypes?.[path]
      const limit = extra?.maxBytes ?? MAX_BODY_BYTES
      const text = await readLimited(request, limit)
      if (text.length === 0 && mediaType === '') return {}

      const accepted = ['application/json', ...(extra?.types ?? [])]
      if (!accepted.includes(mediaType)) throw unsupportedMediaType(mediaType, accepted)
      if (mediaType === 'application/x-www-form-urlencoded')
        return Object.fromEntries(new URLSearchParams(text))
      // Every other accepted type (application/json, application/reports+json, application/csp-report) is JSON.
      try {
        return JSON.parse(text)
      } catch {
        throw badRequest('malformed_body', `The request body is not valid JSON.`)
      }
    })
    .as('global')

async function readLimited(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declared > limit) throw payloadTooLarge(limit)
  if (!request.body) return ''
  // A declared length frames the body (the server reads no more than it), so it can be read whole;
  // only a chunked body has to be counted while it streams.
  if (declared >= 0) return request.text()
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel()
      throw payloadTooLarge(limit)
    }
    chunks.push(value)
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks))
}
