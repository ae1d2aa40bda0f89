import { type AuditAction, get, v1 } from '#lib/api.ts'
import { guard } from '#lib/load.ts'
import { pageParams, param } from '#lib/url.ts'
import type { PageLoad } from './$types'

/** The audit log with its filters (`actor_id`, `action`, `target`, `since`, `until`) in the URL. */
export const load: PageLoad = async ({ url }) => {
  const filters = {
    actor_id: param(url, 'actor_id'),
    action: param(url, 'action') as AuditAction | undefined,
    target: param(url, 'target'),
    since: param(url, 'since'),
    until: param(url, 'until'),
  }
  const entries = await guard(url, () =>
    get(v1.admin['audit-log'].get({ query: { ...filters, ...pageParams(url, 25) } })),
  )
  return { entries, filters }
}
