/** Reset token queries. Only the SHA-256 of a token is stored (tokens.ts). */
import type { Selectable } from 'kysely'
import { v7 as uuidv7 } from 'uuid'
import type { Db, PasswordResetTokensTable } from '../../db/schema.js'
import { isoAt } from '../../security/clock.js'

export type ResetTokenRow = Selectable<PasswordResetTokensTable>

/** Issues a token for userId and voids every older unused one, in one transaction. */
export async function replaceResetToken(db: Db, userId: string, hash: string, nowMs: number, ttlMs: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('password_reset_tokens').where('user_id', '=', userId).execute()
    await trx
      .insertInto('password_reset_tokens')
      .values({ id: uuidv7(), user_id: userId, token_hash: hash, created_at: isoAt(nowMs), expires_at: isoAt(nowMs + ttlMs), used_at: null })
      .execute()
  })
}

export function findResetToken(db: Db, hash: string): Promise<ResetTokenRow | undefined> {
  return db.selectFrom('password_reset_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst()
}
