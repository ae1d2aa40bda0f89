import { redirect } from '@sveltejs/kit'
import { get, isStaff, v1 } from '#lib/api.ts'
import { nextPath } from '#lib/load.ts'
import type { PageLoad } from './$types'

/** Already signed in with the role: straight back to where the person was going. */
export const load: PageLoad = async ({ url }) => {
  const me = await get(v1.auth.me.get()).catch(() => null)
  if (me && isStaff(me.role)) redirect(307, nextPath(url))
  return { me }
}
