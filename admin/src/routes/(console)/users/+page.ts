import { error } from '@sveltejs/kit'
import { get, type Role, v1 } from '#lib/api.ts'
import { guard } from '#lib/load.ts'
import { boolParam, pageParams, param } from '#lib/url.ts'
import type { PageLoad } from './$types'

type UserSort = 'created_at' | '-created_at' | 'email' | '-email' | 'last_login_at' | '-last_login_at'

/** Users (admin only): filters `q` (email), `role`, `is_active`, `sort` in the URL. */
export const load: PageLoad = async ({ url, parent, depends }) => {
  depends('app:users')
  const { me } = await parent()
  if (me.role !== 'admin') error(403, 'Managing users needs the admin role.', { code: 'forbidden' })
  const filters = {
    q: param(url, 'q'),
    role: param(url, 'role') as Role | undefined,
    is_active: boolParam(url, 'is_active'),
    sort: param(url, 'sort') as UserSort | undefined,
  }
  const users = await guard(url, () => get(v1.admin.users.get({ query: { ...filters, ...pageParams(url) } })))
  return { users, filters }
}
