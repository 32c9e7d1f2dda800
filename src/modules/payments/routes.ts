/**
 * Payments: the signed webhook that records them, and the views of what was applied.
 *
 * A caller sees their own payments and balance. An admin sees everyone's and may narrow to one
 * user with `?user_id=`; anyone else naming another user gets 403 rather than a silently
 * different answer, so a client bug cannot pass for an empty list (OWASP API1, object level).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { AppContext } from '../../context.js'
import { principalOf } from '../../http/authenticate.js'
import { forbidden, invalid } from '../../http/errors.js'
import { Id, Page, PageQuery, Timestamp, problems } from '../../http/schemas.js'
import { hasRole, role, type Principal } from '../../security/access.js'
import { balancesOf, listPayments, type PaymentItem, type PaymentPosition } from './store.js'
import { EVENT_ID_PATTERN, paymentWebhookRoute, PaymentEvent } from './webhook.js'

const PaymentSchema = Type.Object({
  id: Type.String({ description: 'The event id the sender gave' }),
  type: PaymentEvent.properties.type,
  amount: Type.Integer({ description: 'Minor units' }),
  currency: Type.String(),
  user_id: Type.String(),
  received_at: Timestamp,
})

const PaymentsQuery = Type.Object(
  {
    limit: PageQuery.properties.limit,
    // Longer than the shared cursor: it carries a timestamp and an event id of up to 200 chars.
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 400, pattern: '^[A-Za-z0-9_-]+$' }),
    ),
    user_id: Type.Optional(Id),
  },
  { additionalProperties: false },
)

const BalanceQuery = Type.Object({ user_id: Type.Optional(Id) }, { additionalProperties: false })

const BalanceSchema = Type.Object({
  user_id: Type.String(),
  balances: Type.Array(Type.Object({ currency: Type.String(), amount: Type.Integer() })),
})

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const EVENT_ID = new RegExp(EVENT_ID_PATTERN)

/** The list is ordered by (received_at, id), so a cursor carries both, made opaque. */
function encodeCursor(item: PaymentItem): string {
  return Buffer.from(JSON.stringify([item.received_at, item.id]), 'utf8').toString('base64url')
}

/** Decodes a cursor; an altered or foreign one is a 422, never a database error. */
function decodeCursor(cursor: string | undefined): PaymentPosition | undefined {
  if (cursor === undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    value = undefined
  }
  if (!Array.isArray(value) || value.length !== 2) throw badCursor()
  const [receivedAt, id] = value as unknown[]
  if (typeof receivedAt !== 'string' || !ISO_INSTANT.test(receivedAt)) throw badCursor()
  if (typeof id !== 'string' || !EVENT_ID.test(id)) throw badCursor()
  return { receivedAt, id }
}

const badCursor = () => invalid([{ field: 'cursor', message: 'is not a valid cursor' }])

/** Whose payments the caller may see: undefined means everyone's (admins only). */
function subjectOf(caller: Principal, requested: string | undefined): string | undefined {
  if (hasRole(caller.roles, 'admin')) return requested
  if (requested !== undefined && requested !== caller.userId) {
    throw forbidden("Only an admin can see another user's payments")
  }
  return caller.userId
}

export function paymentRoutes(ctx: AppContext) {
  return async (plain: FastifyInstance): Promise<void> => {
    // Its own context, so its raw-body JSON parser applies to the webhook alone.
    await plain.register(paymentWebhookRoute(ctx))

    const app = plain.withTypeProvider<TypeBoxTypeProvider>()
    const secured = { tags: ['payments'], security: [{ bearer: [] }] }

    app.get(
      '/payments',
      {
        config: { policy: role('viewer') },
        schema: {
          ...secured,
          summary: 'Applied payment events, newest first',
          querystring: PaymentsQuery,
          response: { 200: Page(PaymentSchema), ...problems(401, 403, 422) },
        },
      },
      async (request) => {
        const { limit, cursor, user_id } = request.query
        const subject = subjectOf(principalOf(request), user_id)
        const rows = await listPayments(ctx.db, subject, decodeCursor(cursor), limit)
        const items = rows.slice(0, limit)
        const last = items.at(-1)
        const next = rows.length > limit && last !== undefined ? encodeCursor(last) : null
        return { items, next_cursor: next }
      },
    )

    app.get(
      '/payments/balance',
      {
        config: { policy: role('viewer') },
        schema: {
          ...secured,
          summary: 'Balance per currency from applied payment events',
          querystring: BalanceQuery,
          response: { 200: BalanceSchema, ...problems(401, 403, 422) },
        },
      },
      async (request) => {
        const caller = principalOf(request)
        const userId = subjectOf(caller, request.query.user_id) ?? caller.userId
        return { user_id: userId, balances: await balancesOf(ctx.db, userId) }
      },
    )
  }
}
