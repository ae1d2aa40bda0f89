import { type AdminUser, get, v1 } from '#lib/api.ts'
import { guard } from '#lib/load.ts'
import { pageParams, param } from '#lib/url.ts'
import type { PageLoad } from './$types'

/**
 * Sessions: find a person (by email, for admins: `GET /admin/users?q=`), then list their sessions;
 * without a person, everyone's active sessions. URL: `?email=`, `?user=<id>`, `?all=true`.
 */
export const load: PageLoad = async ({ url, parent, depends }) => {
  depends('app:sessions')
  const { me } = await parent()
  const email = param(url, 'email')
  const userId = param(url, 'user')
  const includeInactive = param(url, 'all') === 'true'

  return guard(url, async () => {
    const [matches, sessions] = await Promise.all([
      me.role === 'admin' && email
        ? get(v1.admin.users.get({ query: { q: email, page_size: 20, sort: 'email' } }))
        : Promise.resolve(null),
      get(
        v1.admin.sessions.get({
          query: { user_id: userId, active: includeInactive ? undefined : true, ...pageParams(url) },
        }),
      ),
    ])
    // The selected person's account (admins): among the email matches, else looked up by the email
    // their sessions carry.
    let user: AdminUser | null = matches?.items.find((candidate) => candidate.id === userId) ?? null
    if (!user && userId && me.role === 'admin') {
      const known = sessions.items[0]?.user_email
      if (known) {
        const found = await get(v1.admin.users.get({ query: { q: known, page_size: 20 } }))
        user = found.items.find((candidate) => candidate.id === userId) ?? null
      }
    }
    return { email, userId, includeInactive, matches, sessions, user }
  })
}
