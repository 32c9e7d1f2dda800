/**
 * One password check under the login throttle, shared by login and re-authentication: reserved
 * before hashing (login-throttle.ts), then settled exactly once as failed or succeeded, or given
 * back when the hasher refused to run it.
 */
import type { FastifyRequest } from 'fastify'
import type { AppContext } from '../../context.js'
import { limitKeyForAddress } from '../../security/client-address.js'

export interface ReservedCheck {
  /** Runs the hash check; a hasher refusal (503) gives the reservation back and rethrows. */
  run<T>(check: Promise<T>): Promise<T>
  failed(): Promise<void>
  succeeded(): Promise<void>
}

/** Reserves a check of username's password from this client, or throws the throttle's 429. */
export async function reservePasswordCheck(
  ctx: AppContext,
  request: FastifyRequest,
  username: string,
  refusedReason: string,
): Promise<ReservedCheck> {
  const throttle = ctx.limits.login
  const client = limitKeyForAddress(request.ip)
  const attempt = await ctx.limits.closed(() => throttle.attempt(username, client))
  if (attempt.refusal !== undefined) {
    request.authFailure = refusedReason
    throw attempt.refusal
  }
  const reserved = attempt.reserved
  return {
    run: (check) =>
      check.catch(async (error: unknown) => {
        await ctx.limits.closed(() => throttle.release(reserved))
        throw error
      }),
    failed: () => ctx.limits.closed(() => throttle.failed(reserved)),
    succeeded: () => ctx.limits.closed(() => throttle.succeeded(reserved)),
  }
}
