import { get, TICKET_PRIORITIES, v1 } from '#lib/api.ts'
import type { PageLoad } from './$types'

/**
 * The overview's cards load independently: each is a promise the page awaits on its own, so one
 * slow or failing source shows its own loading or error state and never blocks the rest.
 */
export const load: PageLoad = async ({ parent }) => {
  // The layout checks the sign-in first; without it the cards would fire unauthenticated requests.
  await parent()
  const total = (pending: Promise<{ total: number }>) => pending.then((result) => result.total)
  return {
    openTickets: Promise.all(
      TICKET_PRIORITIES.map(async (priority) => ({
        priority,
        count: await total(
          get(v1.support.tickets.get({ query: { status: 'open', priority, page_size: 1 } })),
        ),
      })),
    ),
    posts: Promise.all([
      total(get(v1.community.posts.get({ query: { status: 'pending', page_size: 1 } }))),
      total(get(v1.community.posts.get({ query: { status: 'published', reported: true, page_size: 1 } }))),
      total(get(v1.community.posts.get({ query: { status: 'hidden', page_size: 1 } }))),
    ]).then(([pending, reported, hidden]) => ({ pending, reported, hidden })),
    activeSessions: total(get(v1.admin.sessions.get({ query: { active: true, page_size: 1 } }))),
    status: get(v1.status.get({ fetch: { cache: 'no-cache' } })),
    audit: get(v1.admin['audit-log'].get({ query: { page_size: 8 } })),
  }
}
