import { Elysia, getSchemaValidator, type TSchema, ValidationError } from 'elysia'
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
    .onError(({ code, error, request, set, path, query, params }) => {
      const {
        status,
        code: problemCode,
        detail,
        errors: fieldErrors,
        headers,
        extensions,
      } = classify(code, error, { query, params })
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
      // A problem is about this request only: no cache may keep it (a 429 or a 503 least of all).
      Object.assign(set.headers, headers, {
        'content-type': PROBLEM_CONTENT_TYPE,
        'cache-control': 'no-store',
      })
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

/** The raw (not yet coerced) query and path parameters of the failed request. */
interface RawInputs {
  query?: Record<string, unknown>
  params?: Record<string, unknown>
}

function classify(code: string | number, error: unknown, inputs: RawInputs = {}): Classified {
  if (error instanceof HttpError) return fromHttpError(error)
  // Errors thrown by our body parser arrive wrapped in Elysia's ParseError.
  if (error instanceof Error && error.cause instanceof HttpError) return fromHttpError(error.cause)
  // A response that fails its own schema is our bug, not the caller's.
  if (error instanceof ValidationError && error.type === 'response') {
    return { status: 500, code: 'internal_error', detail: 'Something went wrong on our side.' }
  }
  if (error instanceof ValidationError) {
    return {
      status: 422,
      code: 'validation_failed',
      detail: 'The request is not valid.',
      errors: fieldErrorsOf(error, inputs),
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

/** A sentence a client can act on: allowed values for enums, TypeBox's summary otherwise. */
function describeIssue(issue: ValidationError['all'][number]): string {
  const schema = 'schema' in issue ? (issue.schema as { enum?: unknown[] } | undefined) : undefined
  if (Array.isArray(schema?.enum)) return `Expected one of: ${schema.enum.join(', ')}`
  return 'summary' in issue && issue.summary ? String(issue.summary) : String(issue.message)
}

function fieldErrorsOf(error: ValidationError, inputs: RawInputs): FieldError[] {
  if (error.type === 'property') return locateCoercionFailure(error, inputs)
  const seen = new Set<string>()
  const out: FieldError[] = []
  for (const issue of error.all) {
    const path = 'path' in issue ? String(issue.path) : ''
    const pointer = `/${error.type}${path}`
    if (seen.has(pointer)) continue
    seen.add(pointer)
    out.push({ pointer, detail: describeIssue(issue) })
  }
  return out
}

/**
 * Elysia coerces numeric query and path strings in a transform; when the number then breaks the
 * schema (`page_size=0` against `minimum: 1`) it throws a ValidationError of type `property` that
 * no longer says which parameter failed. Recover the pointer: the raw parameters whose number is
 * the rejected value and fails that same schema.
 */
function locateCoercionFailure(error: ValidationError, inputs: RawInputs): FieldError[] {
  const validator = error.validator as { schema?: TSchema } | TSchema
  const schema = (
    validator && typeof validator === 'object' && 'schema' in validator ? validator.schema : validator
  ) as TSchema
  const issue = error.all[0]
  const detail = issue && 'summary' in issue && issue.summary ? String(issue.summary) : 'Invalid value.'
  let check: { Check(value: unknown): boolean } | undefined
  try {
    check = getSchemaValidator(schema) as unknown as { Check(value: unknown): boolean }
  } catch {}
  const out: FieldError[] = []
  for (const location of ['query', 'params'] as const) {
    for (const [name, raw] of Object.entries(inputs[location] ?? {})) {
      const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN
      if (value === error.value && check?.Check(value) === false)
        out.push({ pointer: `/${location}/${name}`, detail })
    }
  }
  return out.length > 0 ? out : [{ pointer: '', detail }]
}
