import { t } from 'elysia'
import { pageOf, pageQuery } from '../../http/pagination'

export namespace SecurityModel {
  export const report = t.Object({
    id: t.Integer(),
    received_at: t.String({ format: 'date-time' }),
    directive: t.String({
      description: 'The effective directive, e.g. script-src-elem; `other` when unknown.',
    }),
    document_uri: t.Nullable(t.String()),
    blocked_uri: t.Nullable(t.String()),
    disposition: t.Nullable(t.String()),
    source_file: t.Nullable(t.String()),
    line_number: t.Nullable(t.Integer()),
    column_number: t.Nullable(t.Integer()),
    sample: t.Nullable(t.String()),
    user_agent: t.Nullable(t.String()),
  })
  export const reportPage = pageOf(report)
  export const reportsQuery = t.Object(
    { ...pageQuery, directive: t.Optional(t.String({ pattern: '^[a-z-]{1,64}$' })) },
    { additionalProperties: false },
  )
  export const noContent = t.Void({ description: 'No content' })
  /** Any of the three report formats; checked by the service, which knows their shapes. */
  export const incoming = t.Unknown({
    description:
      'application/csp-report `{"csp-report": {...}}`, application/reports+json `[{type: "csp-violation", body: {...}}]`, or either as application/json.',
  })
}
