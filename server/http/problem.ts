import { t } from 'elysia'

/**
 * RFC 9457 problem details (CONTRACT §2): the one builder every error response goes through.
 */

export const PROBLEM_TYPE_BASE = 'https://neoforge.dev/problems/'
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

export interface FieldError {
  /** JSON pointer into the request, e.g. `/body/name` or `/query/page_size`. */
  pointer: string
  detail: string
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  instance: string
  code: string
  request_id: string
  errors?: FieldError[]
  [extension: string]: unknown
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/**
 * An error a handler or service throws to answer with a problem. Services throw these without
 * knowing about HTTP responses; the errors plugin turns them into `application/problem+json`.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly options: {
      errors?: FieldError[]
      headers?: Record<string, string>
      extensions?: Record<string, unknown>
    } = {},
  ) {
    super(detail)
  }
}

export const badRequest = (code: string, detail: string) => new HttpError(400, code, detail)
export const unauthenticated = (detail = 'Authentication is required.') =>
  new HttpError(401, 'unauthenticated', detail, { headers: { 'www-authenticate': 'Bearer' } })
export const forbidden = (detail = 'You are not allowed to do this.', code = 'forbidden') =>
  new HttpError(403, code, detail)
export const notFound = (detail = 'No such resource.') => new HttpError(404, 'not_found', detail)
export const conflict = (detail: string, code = 'conflict') => new HttpError(409, code, detail)
export const validationFailed = (errors: FieldError[], detail = 'The request is not valid.') =>
  new HttpError(422, 'validation_failed', detail, { errors })

export function problemBody(input: {
  status: number
  code: string
  detail: string
  instance: string
  requestId: string
  errors?: FieldError[]
  extensions?: Record<string, unknown>
}): Problem {
  return {
    type: PROBLEM_TYPE_BASE + input.code,
    title: titles[input.status] ?? 'Error',
    status: input.status,
    detail: input.detail,
    instance: input.instance,
    code: input.code,
    request_id: input.requestId,
    ...(input.errors ? { errors: input.errors } : {}),
    ...input.extensions,
  }
}

export function problemResponse(problem: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(problem), {
    status: problem.status,
    headers: { ...headers, 'content-type': PROBLEM_CONTENT_TYPE },
  })
}

/** The problem schema, for the OpenAPI document. */
export const ProblemSchema = t.Object(
  {
    type: t.String({ format: 'uri' }),
    title: t.String(),
    status: t.Integer(),
    detail: t.String(),
    instance: t.String(),
    code: t.String({ description: 'Stable machine-readable code, e.g. validation_failed.' }),
    request_id: t.String(),
    errors: t.Optional(t.Array(t.Object({ pointer: t.String(), detail: t.String() }))),
  },
  { title: 'Problem', description: 'RFC 9457 problem details (application/problem+json).' },
)

/** `response` entries documenting the problems a route can answer with. */
export function problems<const S extends number>(...statuses: S[]): Record<S, typeof ProblemSchema> {
  return Object.fromEntries(statuses.map((status) => [status, ProblemSchema])) as Record<
    S,
    typeof ProblemSchema
  >
}
