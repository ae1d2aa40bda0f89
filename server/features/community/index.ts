import { Elysia } from 'elysia'
import type { Principal } from '../../http/auth'
import { ifMatchOf, item, itemEtag } from '../../http/conditional'
import { reply } from '../../http/idempotency'
import { pageRequest, respondWithPage } from '../../http/pagination'
import { problems } from '../../http/problem'
import type { FeatureDeps } from '../deps'
import { CommunityModel } from './model'
import { createPost, deletePost, getPost, listPosts, reportPost, updatePost, type Viewer } from './service'

function viewerOf(principal: Principal): Viewer
function viewerOf(principal: Principal | null): Viewer | null
function viewerOf(principal: Principal | null): Viewer | null {
  if (!principal) return null
  const { id, role, fullName, email } = principal.user
  return { id, role, fullName, email }
}

/** CONTRACT §8 community posts: publishing, reading, moderation and reports. */
export const communityRoutes = (deps: FeatureDeps) =>
  new Elysia({ name: 'community-routes', prefix: '/community', detail: { tags: ['community'] } })
    .use(deps.plugins)
    .post(
      '/posts',
      async ({ principal, body, idempotency }) =>
        idempotency.run(async (tx) => {
          const { post, version } = await createPost(tx, viewerOf(principal), body, {
            premoderation: deps.config.community.premoderation,
          })
          return reply.created(post, `/api/v1/community/posts/${post.id}`, { etag: itemEtag(version) })
        }),
      {
        auth: true,
        idempotent: true,
        body: CommunityModel.createPost,
        response: { 201: CommunityModel.post, ...problems(400, 401, 403, 409, 413, 415, 422) },
        detail: {
          summary: 'Publish a post',
          description:
            'Any signed-in user. The post is `published`, or `pending` review when COMMUNITY_PREMODERATION=true. Honours `Idempotency-Key`.',
        },
      },
    )
    .get(
      '/posts',
      async ({ principal, query, request, set }) =>
        respondWithPage(
          { request, set },
          await listPosts(deps.db, viewerOf(principal), query, pageRequest(query)),
          (post) => post.id,
        ),
      {
        identify: true,
        query: CommunityModel.listQuery,
        response: { 200: CommunityModel.postPage, ...problems(401, 422) },
        detail: {
          summary: 'List posts, newest first',
          description:
            'Public: published posts only. Staff see every status and may filter by `status` and `reported`; those filters from anyone else are 422.',
        },
      },
    )
    .get(
      '/posts/:id',
      async ({ principal, params, request, set }) => {
        const { post, version } = await getPost(deps.db, viewerOf(principal), params.id)
        return item({ request, set }, version, () => post)
      },
      {
        identify: true,
        params: CommunityModel.postParams,
        response: { 200: CommunityModel.post, ...problems(401, 404, 422) },
        detail: {
          summary: 'One post',
          description: 'Posts that are not published are 404 to everyone but their author and staff.',
        },
      },
    )
    .patch(
      '/posts/:id',
      async ({ principal, client, params, body, request, idempotency }) =>
        idempotency.run(async (tx) => {
          const { post, version } = await updatePost(
            tx,
            viewerOf(principal),
            params.id,
            body,
            client,
            ifMatchOf(request),
          )
          return reply.ok(post, { etag: itemEtag(version) })
        }),
      {
        auth: true,
        idempotent: true,
        params: CommunityModel.postParams,
        body: CommunityModel.updatePost,
        response: { 200: CommunityModel.post, ...problems(400, 401, 403, 404, 409, 412, 413, 415, 422) },
        detail: {
          summary: 'Edit (author) or moderate (staff) a post',
          description:
            'The author changes `title`/`content`. Staff change `status` with a required `moderation_reason` (audited as post.moderate); staff cannot edit other people’s title or content (403). Honours `If-Match` (412 when stale) and `Idempotency-Key`.',
        },
      },
    )
    .delete(
      '/posts/:id',
      async ({ principal, client, params, request, set }) => {
        await deletePost(deps.db, viewerOf(principal), params.id, client, ifMatchOf(request))
        set.status = 204
      },
      {
        auth: true,
        params: CommunityModel.postParams,
        response: { 204: CommunityModel.noContent, ...problems(401, 403, 404, 412, 422) },
        detail: {
          summary: 'Delete a post (author or staff)',
          description:
            'A deletion by staff of someone else’s post is moderation and is audited. Honours `If-Match` (412 when stale).',
        },
      },
    )
    .post(
      '/posts/:id/reports',
      async ({ principal, params, body, idempotency }) =>
        idempotency.run(async (tx) => ({
          status: 201,
          body: await reportPost(tx, viewerOf(principal), params.id, body.reason, {
            threshold: deps.config.community.reportThreshold,
          }),
        })),
      {
        auth: true,
        idempotent: true,
        params: CommunityModel.postParams,
        body: CommunityModel.createReport,
        response: { 201: CommunityModel.report, ...problems(400, 401, 403, 404, 409, 413, 415, 422) },
        detail: {
          summary: 'Report a post',
          description:
            'Any signed-in user but the author (403 cannot_report_own_post), once per post (409 already_reported). At COMMUNITY_REPORT_THRESHOLD reports a published post is hidden for review. Honours `Idempotency-Key`.',
        },
      },
    )
