import { redirect } from '@sveltejs/kit'
import { resolve } from '$app/paths'
import { get, isStaff, v1 } from '#lib/api.ts'
import { guard } from '#lib/load.ts'
import type { LayoutLoad } from './$types'

/** Every console page needs a signed-in staff or admin account (CONTRACT §7, §8). */
export const load: LayoutLoad = async ({ url, depends }) => {
  depends('app:me')
  const me = await guard(url, () => get(v1.auth.me.get()))
  if (!isStaff(me.role)) redirect(307, resolve('no-access'))
  return { me }
}
