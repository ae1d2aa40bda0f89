import { t } from 'elysia'
import type { projects } from '../../../db/schema'
import { pageOf, pageQuery, seekQuery, sortQuery } from '../../http/pagination'

/**
 * Elysia's `t.UnionEnum` carries `default: <first value>`, and Elysia fills defaults in for absent
 * optional values: without this, a missing `sort` would silently become `created_at` ascending.
 */
const withoutDefault = <T extends object>(schema: T): T => ({ ...schema, default: undefined })

export namespace ProjectModel {
  export const sortFields = ['created_at', 'updated_at', 'name'] as const

  /** Trimmed before storing; a name of only whitespace is refused (`\S` somewhere). */
  const name = t.String({
    minLength: 1,
    maxLength: 200,
    pattern: '\\S',
    description: '1..200 characters, not blank; surrounding whitespace is trimmed.',
  })
  const description = t.Nullable(t.String({ maxLength: 5000, description: 'Up to 5000 characters.' }))

  export const project = t.Object(
    {
      id: t.String({ format: 'uuid' }),
      name: t.String(),
      description: t.Nullable(t.String()),
      owner_id: t.String({ format: 'uuid' }),
      created_at: t.String({ format: 'date-time' }),
      updated_at: t.String({ format: 'date-time' }),
    },
    { title: 'Project' },
  )
  export type Project = typeof project.static

  export const create = t.Object(
    { name, description: t.Optional(description) },
    { additionalProperties: false },
  )
  export type Create = typeof create.static

  export const update = t.Object(
    { name: t.Optional(name), description: t.Optional(description) },
    { additionalProperties: false, description: 'At least one of name, description.' },
  )
  export type Update = typeof update.static

  export const listQuery = t.Object(
    {
      ...pageQuery,
      ...seekQuery((options) => t.String({ format: 'uuid', ...options })),
      q: t.Optional(
        t.String({ minLength: 1, maxLength: 200, description: 'Case-insensitive substring of the name.' }),
      ),
      owner_id: t.Optional(
        t.String({
          format: 'uuid',
          description: 'Staff and admin: only this owner’s projects. A user may pass only their own id.',
        }),
      ),
      sort: withoutDefault(sortQuery(sortFields)),
    },
    { additionalProperties: false },
  )
  export type ListQuery = typeof listQuery.static

  export const params = t.Object({ id: t.String({ format: 'uuid' }) })
  export const page = pageOf(project)
  export const noContent = t.Void({ description: 'No content' })
}

/** The public shape of a project. `version` stays out of the body: it is the ETag's business. */
export function toProjectView(row: typeof projects.$inferSelect): ProjectModel.Project {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    owner_id: row.ownerId,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  }
}
