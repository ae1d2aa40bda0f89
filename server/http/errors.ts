import { Elysia, ValidationError } from 'elysia'
import { errorFields, type Logger } from '../log'
import { type FieldError, HttpError, PROBLEM_CONTENT_TYPE, problemBody } from './problem'
import { requestMeta } from './request-id'

/**
 * The one place that maps errors to responses (CONTRACT §2): thrown `HttpError`s, Elysia's
 * validation, parse and not-found errors, and anything unexpected, which becomes a 500 whose
 * details stay in the log.
 */
export const errors = (logger: Logger) =>
  new Elysia({ name: 'errors' })
    .onError(({ code, error, request, set, path }) => {
      const {
        status,
        code: problemCode,
        detail,
        errors: fieldErrors,
        headers,
        extensions,
      } = classify(code, error)
      const meta = requestMeta(request)
      if (status >= 500) {
        logger.error('unhandled error', {
          request_id: meta.id,
          method: request.method,
          path,
          ...errorFields(error),
        })
      }
      set.status = status
      Object.assign(set.headers, headers, { 'content-type': PROBLEM_CONTENT_TYPE })
      return JSON.stringify(
        problemBody({
          status,
          code: problemCode,
          detail,
          instance: path,
          requestId: meta.id,
          ...(fieldErrors ? { errors: fieldErrors } : {}),
          ...(extensions ? { extensions } : {}),
        }),
      )
    })
    .as('global')

interface Classified {
  status: number
  code: string
  detail: string
  errors?: FieldError[]
  headers?: Record<string, string>
  extensions?: Record<string, unknown>
}

function classify(code: string | number, error: unknown): Classified {
  if (error instanceof HttpError) return fromHttpError(error)
  // Errors thrown by our body parser arrive wrapped in Elysia's ParseError.
  if (error instanceof Error && error.cause instanceof HttpError) return fromHttpError(error.cause)
  if (error instanceof ValidationError) {
    return {
      status: 422,
      code: 'validation_failed',
      detail: 'The request is not valid.',
      errors: fieldErrorsOf(error),
    }
  }
  switch (code) {
    case 'PARSE':
      return { status: 400, code: 'malformed_body', detail: 'The request body could not be parsed.' }
    case 'NOT_FOUND':
      return { status: 404, code: 'not_found', detail: 'No such resource.' }
    case 'INVALID_COOKIE_SIGNATURE':
      return { status: 400, code: 'invalid_cookie', detail: 'A cookie was tampered with.' }
    default:
      return { status: 500, code: 'internal_error', detail: 'Something went wrong on our side.' }
  }
}

function fromHttpError(error: HttpError): Classified {
  return {
    status: error.status,
    code: error.code,
    detail: error.message,
    ...(error.options.errors ? { errors: error.options.errors } : {}),
    ...(error.options.headers ? { headers: error.options.headers } : {}),
    ...(error.options.extensions ? { extensions: error.options.extensions } : {}),
  }
}

function fieldErrorsOf(error: ValidationError): FieldError[] {
  const seen = new Set<string>()
  const out: FieldError[] = []
  for (const issue of error.all) {
    const path = 'path' in issue ? String(issue.path) : ''
    const pointer = `/${error.type}${path}`
    if (seen.has(pointer)) continue
    seen.add(pointer)
    const detail = 'summary' in issue && issue.summary ? String(issue.summary) : String(issue.message)
    out.push({ pointer, detail })
  }
  return out
}
