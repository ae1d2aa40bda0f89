import { get, v1 } from '#lib/api.ts'
import { guard } from '#lib/load.ts'
import { pageParams, param } from '#lib/url.ts'
import type { PageLoad } from './$types'

const QUEUES = ['pending', 'reported', 'hidden'] as const
type Queue = (typeof QUEUES)[number]

/**
 * The three moderation queues: posts awaiting review (oldest first), published posts with reports
 * (most reported first) and posts hidden by reports or staff (latest first).
 */
const queries = {
  pending: { status: 'pending', sort: 'created_at' },
  reported: { status: 'published', reported: true, sort: '-report_count' },
  hidden: { status: 'hidden', sort: '-updated_at' },
} as const

export const load: PageLoad = async ({ url, depends }) => {
  depends('app:moderation')
  const requested = param(url, 'queue') ?? 'pending'
  const queue: Queue = (QUEUES as readonly string[]).includes(requested) ? (requested as Queue) : 'pending'
  const q = param(url, 'q')
  const posts = await guard(url, () =>
    get(v1.community.posts.get({ query: { ...queries[queue], q, ...pageParams(url) } })),
  )
  return { queue, q, posts }
}
