/** Schemas shared by several modules: ids, pagination, problems. */
import { Type, type Static, type TSchema } from 'typebox'

export const Id = Type.String({ format: 'uuid', description: 'Opaque identifier (UUID)' })

export const IdParams = Type.Object({ id: Id }, { additionalProperties: false })

export const Timestamp = Type.String({ format: 'date-time' })

export const PageQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' }),
    ),
  },
  { additionalProperties: false },
)
export type PageQueryT = Static<typeof PageQuery>

export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), next_cursor: Type.Union([Type.String(), Type.Null()]) })

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(Type.Object({ field: Type.String(), message: Type.String() })),
    ),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
)

export const NoContent = Type.Null({ description: 'No content' })

/** Standard error responses for a route, each a problem document. */
export function problems(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, Type.Ref('Problem')]))
}
