/** The session check every authenticated request makes: one primary-key read, never cached. */
import type { Db } from '../db/schema.js'
import { prepareQuery } from '../db/prepared.js'

export interface LiveSession {
  readonly user_id: string
  readonly username: string
  readonly roles: string
}

/**
 * Returns a lookup of a session and its user, found only while the session is unrevoked and
 * unexpired and the user active.
 */
export function liveSessionQuery(
  db: Db,
): (sessionId: string, nowIso: string) => Promise<LiveSession | undefined> {
  const query = prepareQuery(db, 2, (sessionId: string, nowIso: string) =>
    db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select(['sessions.user_id', 'users.username', 'users.roles'])
      .where('sessions.id', '=', sessionId)
      .where('sessions.revoked_at', 'is', null)
      .where('sessions.expires_at', '>', nowIso)
      .where('users.is_active', '=', 1),
  )
  return async (sessionId, nowIso) => (await query(sessionId, nowIso))[0]
}
