/** The session check every authenticated request makes: one primary-key read, never cached. */
import type { AppContext } from '../context.js'
import { isoAt } from '../security/clock.js'

export interface LiveSession {
  readonly user_id: string
  readonly username: string
  readonly roles: string
}

/** The session and its user when the session is unrevoked, unexpired and the user active. */
export async function loadLiveSession(ctx: AppContext, sessionId: string): Promise<LiveSession | undefined> {
  return ctx.db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select(['sessions.user_id', 'users.username', 'users.roles'])
    .where('sessions.id', '=', sessionId)
    .where('sessions.revoked_at', 'is', null)
    .where('sessions.expires_at', '>', isoAt(ctx.clock.now()))
    .where('users.is_active', '=', 1)
    .executeTakeFirst()
}
