/** Sessions (token families) and their refresh tokens. */
import type { Db } from '../../db/schema.js'
import { isoAt } from '../../security/clock.js'
import { newOpaqueToken } from '../../security/tokens.js'
import { v7 as uuidv7 } from 'uuid'

export interface NewRefresh {
  readonly token: string
  readonly sessionId: string
}

/** Starts a session with its first refresh token, in one transaction. */
export async function createSession(
  db: Db,
  userId: string,
  nowMs: number,
  ttlSeconds: number,
): Promise<NewRefresh> {
  const sessionId = uuidv7()
  const expiresAt = isoAt(nowMs + ttlSeconds * 1000)
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto('sessions')
      .values({
        id: sessionId,
        user_id: userId,
        created_at: isoAt(nowMs),
        expires_at: expiresAt,
        revoked_at: null,
        revoked_reason: null,
      })
      .execute()
    return { token: await insertRefresh(trx, sessionId, nowMs, expiresAt), sessionId }
  })
}

/** Adds a refresh token to a session; it expires with the session, never later. */
export async function insertRefresh(
  db: Db,
  sessionId: string,
  nowMs: number,
  expiresAt: string,
): Promise<string> {
  const { token, hash } = newOpaqueToken()
  await db
    .insertInto('refresh_tokens')
    .values({
      id: uuidv7(),
      session_id: sessionId,
      token_hash: hash,
      created_at: isoAt(nowMs),
      expires_at: expiresAt,
      used_at: null,
    })
    .execute()
  return token
}

/** Revokes one session; its access and refresh tokens stop working at the next request. */
export async function revokeSession(
  db: Db,
  sessionId: string,
  reason: string,
  nowMs: number,
): Promise<void> {
  await db
    .updateTable('sessions')
    .set({ revoked_at: isoAt(nowMs), revoked_reason: reason })
    .where('id', '=', sessionId)
    .where('revoked_at', 'is', null)
    .execute()
}

/** Revokes every live session of a user; returns how many ended. */
export async function revokeUserSessions(
  db: Db,
  userId: string,
  reason: string,
  nowMs: number,
): Promise<number> {
  const result = await db
    .updateTable('sessions')
    .set({ revoked_at: isoAt(nowMs), revoked_reason: reason })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  return Number(result.numUpdatedRows)
}
