/** Admin views of the security event chain: filtered listing and verification. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { AppContext } from '../../context.js'
import { problems, Id, Timestamp } from '../../http/schemas.js'
import { role } from '../../security/access.js'
import { fromRow } from '../../security/events.js'
import { AppError } from '../../http/errors.js'

const EventsQuery = Type.Object(
  {
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z_]+$' })),
    user_id: Type.Optional(Id),
    since: Type.Optional(Timestamp),
    until: Type.Optional(Timestamp),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$' })),
  },
  { additionalProperties: false },
)

const Nullable = Type.Union([Type.String(), Type.Null()])
const EventSchema = Type.Object({
  id: Type.String(),
  at: Timestamp,
  type: Type.String(),
  outcome: Type.String(),
  ip: Nullable,
  user_agent: Nullable,
  method: Nullable,
  path: Nullable,
  user_id: Nullable,
  request_id: Nullable,
  details: Type.Record(Type.String(), Type.Unknown()),
})

const VerifySchema = Type.Object({
  ok: Type.Boolean(),
  checked: Type.Integer(),
  first_bad: Type.Optional(Type.String()),
})

/** Timestamps compare as text only when they share one form, so filters are normalized first. */
function normalizeTime(field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const ms = Date.parse(value)
  if (Number.isNaN(ms))
    throw new AppError('RAMPART_HTTP_VALIDATION', 'One or more fields are invalid', [
      { field, message: 'is not a valid time' },
    ])
  return new Date(ms).toISOString()
}

export function adminRoutes(ctx: AppContext) {
  return async (plain: FastifyInstance): Promise<void> => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>()
    const secured = { tags: ['admin'], security: [{ bearer: [] }] }

    app.get(
      '/admin/security-events',
      {
        config: { policy: role('admin') },
        schema: {
          ...secured,
          summary: 'Security events, newest first',
          querystring: EventsQuery,
          response: {
            200: Type.Object({ items: Type.Array(EventSchema), next_cursor: Nullable }),
            ...problems(401, 403, 422),
          },
        },
      },
      async (request) => {
        const { type, user_id, limit, cursor } = request.query
        const since = normalizeTime('since', request.query.since)
        const until = normalizeTime('until', request.query.until)
        let query = ctx.db
          .selectFrom('security_events')
          .selectAll()
          .orderBy('seq', 'desc')
          .limit(limit + 1)
        if (type !== undefined) query = query.where('type', '=', type)
        if (user_id !== undefined) query = query.where('user_id', '=', user_id)
        if (since !== undefined) query = query.where('at', '>=', since)
        if (until !== undefined) query = query.where('at', '<', until)
        if (cursor !== undefined) query = query.where('seq', '<', Number(cursor))
        const rows = await query.execute()
        const page = rows.slice(0, limit)
        const last = page.at(-1)
        return {
          items: page.map(fromRow),
          next_cursor: rows.length > limit && last !== undefined ? String(last.seq) : null,
        }
      },
    )

    app.get(
      '/admin/security-events/verify',
      {
        config: { policy: role('admin') },
        schema: {
          ...secured,
          summary: 'Recompute the tamper-evident event chain',
          response: { 200: VerifySchema, ...problems(401, 403) },
        },
      },
      () => ctx.events.verify(),
    )
  }
}
