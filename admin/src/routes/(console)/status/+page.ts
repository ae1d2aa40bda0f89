import { get, v1 } from '#lib/api.ts'
import { guard } from '#lib/load.ts'
import { pageParams, param } from '#lib/url.ts'
import type { PageLoad } from './$types'

/** Current status of every service, and the history of events (filter `?service=`). */
export const load: PageLoad = async ({ url, depends }) => {
  depends('app:status')
  const service = param(url, 'service')
  const [summary, events] = await guard(url, () =>
    Promise.all([
      // Public status responses are cacheable for 15 s: the console always revalidates.
      get(v1.status.get({ fetch: { cache: 'no-cache' } })),
      get(v1.status.events.get({ query: { service, ...pageParams(url, 10) }, fetch: { cache: 'no-cache' } })),
    ]),
  )
  return { summary, events, service }
}
