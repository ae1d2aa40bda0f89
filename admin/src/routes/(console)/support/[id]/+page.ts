import { get, ok, v1 } from '#lib/api.ts'
import { guard } from '#lib/load.ts'
import type { PageLoad } from './$types'

/** One ticket and its ETag (for If-Match); admins also get the staff they can assign it to. */
export const load: PageLoad = async ({ url, params, parent, depends }) => {
  depends('app:ticket')
  const { me } = await parent()
  const id = Number(params.id)
  const [ticket, staff] = await guard(url, () =>
    Promise.all([
      ok(v1.support.tickets({ id }).get()),
      me.role === 'admin'
        ? Promise.all([
            get(v1.admin.users.get({ query: { role: 'staff', is_active: true, page_size: 100, sort: 'email' } })),
            get(v1.admin.users.get({ query: { role: 'admin', is_active: true, page_size: 100, sort: 'email' } })),
          ]).then(([staff, admins]) => [...admins.items, ...staff.items])
        : Promise.resolve(null),
    ]),
  )
  return { ticket: ticket.data, etag: ticket.etag, staff }
}
