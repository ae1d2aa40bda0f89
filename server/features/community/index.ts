import { Elysia, status } from 'elysia'
import type { Principal } from '../../http/auth'
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

/** Reads depend on who asks (staff and authors see more): never a shared cache. */
const callerSpecific = (set: { headers: Record<string, unknown> }) => {
  set.headers['cache-control'] = 'private, no-cache'
  set.headers.vary = 'Authorization, Cookie'
}

/** CONTRACT §8 community posts: publishing, reading, moderation and reports. */
export const communityRoutes = (deps: FeatureDeps) =>
  new Elysia({ name: 'community-routes', prefix: '/community', detail: { tags: ['community'] } })
    .use(deps.authPlugin)
    .post(
      '/posts',
      async ({ principal, body, set }) => {
        const post = await createPost(deps.db, viewerOf(principal), body, {
          premoderation: deps.config.community.premoderation,
        })
        set.headers.location = `/api/v1/community/posts/${post.id}`
        return status(201, post)
      },
      {
        auth: true,
        body: CommunityModel.createPost,
        response: { 201: CommunityModel.post, ...problems(400, 401, 413, 415, 422) },
        detail: {
          summary: 'Publish a post',
          description:
            'Any signed-in user. The post is `published`, or `pending` review when COMMUNITY_PREMODERATION=true.',
        },
      },
    )
    .get(
      '/posts',
      async ({ principal, query, request, set }) => {
        callerSpecific(set)
        return respondWithPage(
          { request, set },
          await listPosts(deps.db, viewerOf(principal), query, pageRequest(query)),
        )
      },
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
      async ({ principal, params, set }) => {
        callerSpecific(set)
        return getPost(deps.db, viewerOf(principal), params.id)
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
      async ({ principal, client, params, body }) =>
        updatePost(deps.db, viewerOf(principal), params.id, body, client),
      {
        auth: true,
        params: CommunityModel.postParams,
        body: CommunityModel.updatePost,
        response: { 200: CommunityModel.post, ...problems(400, 401, 403, 404, 413, 415, 422) },
        detail: {
          summary: 'Edit (author) or moderate (staff) a post',
          description:
            'The author changes `title`/`content`. Staff change `status` with a required `moderation_reason` (audited as post.moderate); staff cannot edit other people’s title or content (403).',
        },
      },
    )
    .delete(
      '/posts/:id',
      async ({ principal, client, params, set }) => {
        await deletePost(deps.db, viewerOf(principal), params.id, client)
        set.status = 204
      },
      {
        auth: true,
        params: CommunityModel.postParams,
        response: { 204: CommunityModel.noContent, ...problems(401, 403, 404, 422) },
        detail: {
          summary: 'Delete a post (author or staff)',
          description: 'A deletion by staff of someone else’s post is moderation and is audited.',
        },
      },
    )
    .post(
      '/posts/:id/reports',
      async ({ principal, params, body }) =>
        status(
          201,
          await reportPost(deps.db, viewerOf(principal), params.id, body.reason, {
            threshold: deps.config.community.reportThreshold,
          }),
        ),
      {
        auth: true,
        params: CommunityModel.postParams,
        body: CommunityModel.createReport,
        response: { 201: CommunityModel.report, ...problems(400, 401, 403, 404, 409, 413, 415, 422) },
        detail: {
          summary: 'Report a post',
          description:
            'Any signed-in user but the author (403 cannot_report_own_post), once per post (409 already_reported). At COMMUNITY_REPORT_THRESHOLD reports a published post is hidden for review.',
        },
      },
    )
