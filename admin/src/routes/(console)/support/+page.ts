import { get, type TicketPriority, type TicketStatus, v1 } from '#lib/api.ts'
import { guard } from '#lib/load.ts'
import { pageParams, param } from '#lib/url.ts'
import type { PageLoad } from './$types'

type TicketSort = 'created_at' | '-created_at' | 'updated_at' | '-updated_at' | 'priority' | '-priority'

/** Support triage: every filter is a URL parameter, passed to the API as is (bad values are its 422). */
export const load: PageLoad = async ({ url, parent }) => {
  const { me } = await parent()
  const assignee = param(url, 'assignee')
  const filters = {
    status: param(url, 'status') as TicketStatus | undefined,
    priority: param(url, 'priority') as TicketPriority | undefined,
    assignee_id: assignee === 'me' ? me.id : assignee,
    q: param(url, 'q'),
    sort: param(url, 'sort') as TicketSort | undefined,
  }
  const tickets = await guard(url, () =>
    get(v1.support.tickets.get({ query: { ...filters, ...pageParams(url) } })),
  )
  return { tickets, filters: { ...filters, assignee } }
}
