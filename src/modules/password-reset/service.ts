/**
 * Password reset by mail (OWASP Forgot Password Cheat Sheet). A request answers the same way
 * whether or not the address belongs to an account: the lookup, the token and the mail happen
 * after the response. Tokens are 256-bit random, stored hashed, single-use, valid 30 minutes,
 * and a newer request voids older ones. Confirming applies the password policy, rehashes and
 * ends every session of the account.
 */
import type { FastifyRequest } from 'fastify'
import type { AppContext } from '../../context.js'
import { eventContext, recordEvent } from '../../http/authenticate.js'
import { AppError, invalid } from '../../http/errors.js'
import { limitKeyForAddress } from '../../security/client-address.js'
import { isoAt } from '../../security/clock.js'
import { hashOpaqueToken, newOpaqueToken } from '../../security/tokens.js'
import { accountRuleErrors } from '../accounts/service.js'
import { findUserByEmail, findUserById } from '../accounts/store.js'
import { revokeUserSessions } from '../sessions/store.js'
import { findResetToken, lockUser, replaceResetToken } from './store.js'

export const RESET_ACCEPTED = 'If the email exists, a reset link has been sent'
export const RESET_TOKEN_TTL_MS = 30 * 60 * 1000
const BAD_TOKEN = 'The reset token is invalid or expired'

/** Counts the request against its limit, then hands the rest to a background task. */
export async function requestReset(
  ctx: AppContext,
  request: FastifyRequest,
  email: string,
): Promise<void> {
  await ctx.limits.enforceClosed(
    ctx.limits.reset,
    `${limitKeyForAddress(request.ip)}\n${email.toLowerCase()}`,
  )

  const context = eventContext(request)
  const accepted = ctx.tasks.offer('password-reset', async () => {
    // Past the per-address cap nothing is mailed, silently: the answer is already the same 202,
    // so many client addresses can neither mail-bomb an inbox nor keep voiding its live link.
    const mails = await ctx.limits.resetMail.hit(email.toLowerCase())
    if (mails.used > mails.limit) {
      await ctx.events.record({
        ...context,
        type: 'excess_rate_limit_exceeded',
        outcome: 'blocked',
        details: { policy: 'reset-mail' },
      })
      return
    }
    const userId = await issueAndMail(ctx, email)
    await ctx.events.record({
      ...context,
      type: 'authn_password_reset_requested',
      outcome: 'success',
      userId,
      details: { account_found: userId !== null },
    })
  })
  if (!accepted) {
    throw new AppError(
      'RAMPART_HTTP_UNAVAILABLE',
      'Too many reset requests in progress, retry shortly',
      undefined,
      { 'retry-after': '5' },
    )
  }
}

/** Looks the address up and, for a live account, stores a new token and mails the link. */
async function issueAndMail(ctx: AppContext, email: string): Promise<string | null> {
  const user = await findUserByEmail(ctx.db, email)
  if (user?.is_active !== 1) return null

  const { token, hash } = newOpaqueToken()
  const to = await replaceResetToken(
    ctx.db,
    ctx.dialect,
    user.id,
    user.email_lower,
    hash,
    ctx.clock.now(),
    RESET_TOKEN_TTL_MS,
  )
  if (to === undefined) return null
  await ctx.mailer.send({
    to,
    subject: 'Reset your Rampart password',
    text: [
      `Someone asked to reset the password of the Rampart account ${user.username}.`,
      'To choose a new password, open this link within 30 minutes:',
      '',
      resetLink(ctx, token),
      '',
      // On a line of its own (shorter than a mail line may be, so it is never wrapped or
      // encoded) for apps that ask for the token itself.
      'Or paste this reset token where the app asks for it:',
      token,
      '',
      'If you did not ask for this, ignore this message: your password stays as it is.',
    ].join('\n'),
  })
  return user.id
}

/**
 * The link in the mail. The token goes in the fragment, which browsers never send to a server,
 * so it cannot land in an access log or a Referer header (OWASP Forgot Password Cheat Sheet);
 * UNSAFE_RESET_TOKEN_IN_QUERY puts it in the query for front ends that cannot read fragments.
 */
export function resetLink(ctx: AppContext, token: string): string {
  const url = new URL(ctx.config.resetLinkBase)
  if (ctx.config.unsafeResetTokenInQuery) url.searchParams.set('token', token)
  else url.hash = `token=${token}`
  return url.toString()
}

/** Spends a token: new password hash, token used, every session ended, all in one transaction. */
export async function confirmReset(
  ctx: AppContext,
  request: FastifyRequest,
  token: string,
  newPassword: string,
): Promise<void> {
  const nowMs = ctx.clock.now()
  const row = await findResetToken(ctx.db, hashOpaqueToken(token))
  if (row === undefined) return badToken(ctx, request, null, 'unknown token')
  if (row.used_at !== null) return badToken(ctx, request, row.user_id, 'token already used')
  if (row.expires_at <= isoAt(nowMs)) return badToken(ctx, request, row.user_id, 'token expired')
  const user = await findUserById(ctx.db, row.user_id)
  if (user?.is_active !== 1) return badToken(ctx, request, row.user_id, 'account inactive')

  const errors = accountRuleErrors(ctx, {
    username: user.username,
    email: user.email,
    password: newPassword,
  })
  if (errors.length > 0)
    throw invalid(errors.map((e) => (e.field === 'password' ? { ...e, field: 'new_password' } : e)))

  const hash = await ctx.hasher.hash(newPassword)
  const ended = await ctx.db.transaction().execute(async (trx) => {
    // The user row first, as every account change does, so the two cannot deadlock.
    const locked = await lockUser(trx, ctx.dialect, user.id)
    if (locked?.is_active !== 1) return undefined
    const spent = await trx
      .updateTable('password_reset_tokens')
      .set({ used_at: isoAt(nowMs) })
      .where('id', '=', row.id)
      .where('used_at', 'is', null)
      .executeTakeFirst()
    // A concurrent confirm spent the same token first.
    if (spent.numUpdatedRows === 0n) return undefined
    await trx
      .updateTable('users')
      .set({ password_hash: hash, updated_at: isoAt(nowMs) })
      .where('id', '=', user.id)
      .execute()
    await trx
      .deleteFrom('password_reset_tokens')
      .where('user_id', '=', user.id)
      .where('id', '!=', row.id)
      .execute()
    return revokeUserSessions(trx, user.id, 'password reset', nowMs)
  })
  if (ended === undefined) return badToken(ctx, request, user.id, 'token already used')

  await recordEvent(ctx, request, {
    type: 'authn_password_reset',
    outcome: 'success',
    userId: user.id,
    details: { sessions_ended: ended },
  })
}

async function badToken(
  ctx: AppContext,
  request: FastifyRequest,
  userId: string | null,
  reason: string,
): Promise<never> {
  await recordEvent(ctx, request, {
    type: 'authn_password_reset_fail',
    outcome: 'failure',
    userId,
    details: { reason },
  })
  throw new AppError('RAMPART_RESET_INVALID_TOKEN', BAD_TOKEN)
}
