/** Payment events and balances. Applying an event is one insert; see migration 003 for why. */
import type { Insertable, Selectable } from 'kysely'
import type { Db, PaymentsTable } from '../../db/schema.js'

export type PaymentType = PaymentsTable['type']
export type PaymentInsert = Insertable<PaymentsTable>

export interface PaymentItem {
  id: string
  type: PaymentType
  amount: number
  currency: string
  user_id: string
  received_at: string
}

export interface Balance {
  currency: string
  amount: number
}

/** Where the previous page ended, in the list's (received_at, id) order. */
export interface PaymentPosition {
  readonly receivedAt: string
  readonly id: string
}

/**
 * Records the event and, through the insert trigger, applies its balance change. Answers false
 * when the id was already recorded: the database, not this process, decides which delivery wins,
 * so concurrent deliveries on any number of instances apply an event once.
 */
export async function recordPayment(db: Db, row: PaymentInsert): Promise<boolean> {
  const inserted = await db
    .insertInto('payments')
    .values(row)
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .executeTakeFirst()
  return inserted !== undefined
}

/** Payments newest first, one page plus one row, optionally for one user only. */
export async function listPayments(
  db: Db,
  userId: string | undefined,
  after: PaymentPosition | undefined,
  limit: number,
): Promise<PaymentItem[]> {
  let query = db
    .selectFrom('payments')
    .select(['id', 'type', 'amount', 'currency', 'user_id', 'received_at'])
    .orderBy('received_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
  if (userId !== undefined) query = query.where('user_id', '=', userId)
  if (after !== undefined) {
    query = query.where((eb) =>
      eb.or([
        eb('received_at', '<', after.receivedAt),
        eb.and([eb('received_at', '=', after.receivedAt), eb('id', '<', after.id)]),
      ]),
    )
  }
  const rows = await query.execute()
  return rows.map(toItem)
}

/** A user's balance in each currency they have one in, in currency order. */
export async function balancesOf(db: Db, userId: string): Promise<Balance[]> {
  const rows = await db
    .selectFrom('payment_balances')
    .select(['currency', 'balance'])
    .where('user_id', '=', userId)
    .orderBy('currency')
    .execute()
  return rows.map((row) => ({ currency: row.currency, amount: Number(row.balance) }))
}

type ItemRow = Pick<Selectable<PaymentsTable>, keyof PaymentItem>

function toItem(row: ItemRow): PaymentItem {
  return { ...row, amount: Number(row.amount) }
}
