import { get, v1 } from '#lib/api.ts'
import type { PageLoad } from './$types'

/** Who is signed in, if anyone: the page explains why the console refuses them. */
export const load: PageLoad = async () => ({ me: await get(v1.auth.me.get()).catch(() => null) })
