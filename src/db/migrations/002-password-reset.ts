/**
 * Password reset tokens (only their SHA-256 is stored) and, on PostgreSQL, the rate limiter's
 * counters, shared by every instance on the database. (On SQLite the counters have a file of
 * their own: rate-limit-store.ts.)
 */
import type { Kysely } from 'kysely'
import type { Dialect } from '../schema.js'

export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('password_reset_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute()
  await db.schema
    .createIndex('reset_user_idx')
    .on('password_reset_tokens')
    .column('user_id')
    .execute()

  if (dialect !== 'postgres') return
  // The column layout rate-limiter-flexible's PostgreSQL store reads and writes.
  await db.schema
    .createTable('rate_limits')
    .addColumn('key', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('points', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expire', 'bigint')
    .execute()
  await db.schema.createIndex('rate_limits_expire_idx').on('rate_limits').column('expire').execute()
}
