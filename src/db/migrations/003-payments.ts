/**
 * Payment events and per-user balances.
 *
 * `payments.id` is the sender's event id and the primary key: inserting an event twice is a
 * conflict the database settles, whatever the number of instances or concurrent deliveries. The
 * balance is moved by a trigger on that same insert, so recording the event and applying its
 * effect are one statement and therefore one transaction on both engines: an insert skipped as a
 * duplicate fires nothing, and there is no window in which one exists without the other. A single
 * statement also never holds SQLite's write lock across an await, so instances sharing one
 * database file never wait on each other.
 */
import { sql, type Kysely } from 'kysely'
import type { Dialect } from '../schema.js'

export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('payments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) =>
      c.notNull().check(sql`type in ('payment.succeeded', 'payment.failed', 'payment.refunded')`),
    )
    .addColumn('amount', 'bigint', (c) => c.notNull().check(sql`amount >= 0`))
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('balance_delta', 'bigint', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('payments_received_idx')
    .on('payments')
    .columns(['received_at', 'id'])
    .execute()
  await db.schema
    .createIndex('payments_user_idx')
    .on('payments')
    .columns(['user_id', 'received_at', 'id'])
    .execute()

  await db.schema
    .createTable('payment_balances')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('balance', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('payment_balances_pk', ['user_id', 'currency'])
    .execute()

  if (dialect === 'postgres') await postgresTrigger(db)
  else await sqliteTrigger(db)
}

async function sqliteTrigger(db: Kysely<unknown>): Promise<void> {
  await sql`
    create trigger payments_apply_balance after insert on payments
    when new.balance_delta <> 0
    begin
      insert into payment_balances (user_id, currency, balance, updated_at)
      values (new.user_id, new.currency, new.balance_delta, new.received_at)
      on conflict (user_id, currency) do update
      set balance = balance + excluded.balance, updated_at = excluded.updated_at;
    end
  `.execute(db)
}

// `set search_path from current` pins the function to the schema it was created in, so a caller
// with another search_path can neither break it nor redirect it to a look-alike table.
async function postgresTrigger(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function payments_apply_balance() returns trigger
    language plpgsql
    set search_path from current
    as $$
    begin
      insert into payment_balances (user_id, currency, balance, updated_at)
      values (new.user_id, new.currency, new.balance_delta, new.received_at)
      on conflict (user_id, currency) do update
      set balance = payment_balances.balance + excluded.balance,
          updated_at = excluded.updated_at;
      return null;
    end
    $$
  `.execute(db)
  await sql`
    create trigger payments_apply_balance after insert on payments
    for each row when (new.balance_delta <> 0)
    execute function payments_apply_balance()
  `.execute(db)
}
