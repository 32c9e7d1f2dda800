/** Reset token queries. Only the SHA-256 of a token is stored (tokens.ts). */
import type { Selectable } from 'kysely'
import { v7 as uuidv7 } from 'uuid'
import type { Db, Dialect, PasswordResetTokensTable } from '../../db/schema.js'
import { isoAt } from '../../security/clock.js'

export type ResetTokenRow = Selectable<PasswordResetTokensTable>

/**
 * Reads a user row for the rest of the transaction. On PostgreSQL the row is locked (FOR UPDATE),
 * so an account change and a reset step touching the same user run one after the other, always
 * user row first; SQLite runs one write transaction at a time anyway.
 */
export async function lockUser(trx: Db, dialect: Dialect, userId: string) {
  const query = trx
    .selectFrom('users')
    .select(['id', 'email', 'email_lower', 'is_active'])
    .where('id', '=', userId)
  return (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst()
}

/**
 * Issues a token for userId and voids every older unused one, in one transaction, only while the
 * account still has the address the request named; returns the address to mail, or undefined.
 */
export async function replaceResetToken(
  db: Db,
  dialect: Dialect,
  userId: string,
  emailLower: string,
  hash: string,
  nowMs: number,
  ttlMs: number,
): Promise<string | undefined> {
  return db.transaction().execute(async (trx) => {
    const user = await lockUser(trx, dialect, userId)
    // The address changed since the lookup: the link must not reach the old mailbox.
    if (user?.email_lower !== emailLower || user.is_active !== 1) return undefined
    await trx.deleteFrom('password_reset_tokens').where('user_id', '=', userId).execute()
    await trx
      .insertInto('password_reset_tokens')
      .values({
        id: uuidv7(),
        user_id: userId,
        token_hash: hash,
        created_at: isoAt(nowMs),
        expires_at: isoAt(nowMs + ttlMs),
        used_at: null,
      })
      .execute()
    return user.email
  })
}

export function findResetToken(db: Db, hash: string): Promise<ResetTokenRow | undefined> {
  return db
    .selectFrom('password_reset_tokens')
    .selectAll()
    .where('token_hash', '=', hash)
    .executeTakeFirst()
}
