/**
 * Login and refresh. Login failures look the same whether or not the user exists, in body and in
 * time (a dummy hash is verified for unknown users). Refresh tokens rotate on every use; a spent
 * one presented again revokes its whole family (OAuth 2.0 Security BCP, RFC 9700 4.14.2).
 */
import type { FastifyRequest } from 'fastify'
import type { AppContext } from '../../context.js'
import { recordEvent } from '../../http/authenticate.js'
import { AppError } from '../../http/errors.js'
import { isoAt } from '../../security/clock.js'
import { hashOpaqueToken } from '../../security/tokens.js'
import { findUserByUsername } from '../accounts/store.js'
import { reservePasswordCheck } from './password-check.js'
import { createSession, insertRefresh, revokeSession } from './store.js'

export interface TokenPair {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
  expires_in: number
}

const LOGIN_FAILED = 'Incorrect username or password'

/**
 * Checks credentials and opens a session; one generic 401 for every kind of failure. The
 * brute-force throttle (login-throttle.ts) answers first, before any hashing, and counts every
 * failure; its store failing refuses the login rather than letting guesses through.
 */
export async function login(
  ctx: AppContext,
  request: FastifyRequest,
  username: string,
  password: string,
): Promise<TokenPair> {
  const check = await reservePasswordCheck(ctx, request, username, 'login throttled')
  const failed = async (userId: string | null, reason: string): Promise<never> => {
    await check.failed()
    return loginFailed(ctx, request, userId, reason)
  }

  const user = await findUserByUsername(ctx.db, username)
  if (user === undefined) {
    await check.run(ctx.hasher.verifyDummy(password))
    return failed(null, 'unknown user')
  }

  const result = await check.run(ctx.hasher.verify(user.password_hash, password))
  if (!result.ok) return failed(user.id, 'wrong password')
  if (user.is_active !== 1) return failed(user.id, 'inactive account')
  await check.succeeded()

  if (result.needsRehash) {
    const rehashed = await ctx.hasher.hash(password)
    await ctx.db
      .updateTable('users')
      .set({ password_hash: rehashed })
      .where('id', '=', user.id)
      .where('password_hash', '=', user.password_hash)
      .execute()
    await ctx.events.record({
      type: 'authn_login_rehash',
      outcome: 'success',
      userId: user.id,
      requestId: request.id,
    })
  }

  const pair = await openSession(ctx, user.id)
  await recordEvent(ctx, request, {
    type: 'authn_login_success',
    outcome: 'success',
    userId: user.id,
  })
  return pair
}

async function loginFailed(
  ctx: AppContext,
  request: FastifyRequest,
  userId: string | null,
  reason: string,
): Promise<never> {
  await recordEvent(ctx, request, {
    type: 'authn_login_fail',
    outcome: 'failure',
    userId,
    details: { reason },
  })
  throw new AppError('RAMPART_AUTH_INVALID_CREDENTIALS', LOGIN_FAILED)
}

async function openSession(ctx: AppContext, userId: string): Promise<TokenPair> {
  const { token, sessionId } = await createSession(
    ctx.db,
    userId,
    ctx.clock.now(),
    ctx.config.refreshTokenTtlSeconds,
  )
  return pairFor(ctx, userId, sessionId, token)
}

async function pairFor(
  ctx: AppContext,
  userId: string,
  sessionId: string,
  refreshToken: string,
): Promise<TokenPair> {
  const access = await ctx.tokens.issueAccess(userId, sessionId)
  return {
    access_token: access.token,
    refresh_token: refreshToken,
    token_type: 'bearer',
    expires_in: access.expiresIn,
  }
}

/** Spends a refresh token and returns a new pair in the same session. */
export async function refresh(
  ctx: AppContext,
  request: FastifyRequest,
  presented: string,
): Promise<TokenPair> {
  const nowMs = ctx.clock.now()
  const now = isoAt(nowMs)
  const row = await ctx.db
    .selectFrom('refresh_tokens')
    .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select([
      'refresh_tokens.id',
      'refresh_tokens.used_at',
      'refresh_tokens.expires_at',
      'sessions.id as session_id',
      'sessions.user_id',
      'sessions.revoked_at',
      'sessions.expires_at as session_expires_at',
      'users.is_active',
    ])
    .where('refresh_tokens.token_hash', '=', hashOpaqueToken(presented))
    .executeTakeFirst()

  if (row === undefined) return refreshFailed(ctx, request, null, 'unknown refresh token')
  if (row.used_at !== null) return reuseDetected(ctx, request, row.session_id, row.user_id)
  if (
    row.revoked_at !== null ||
    row.expires_at <= now ||
    row.session_expires_at <= now ||
    row.is_active !== 1
  ) {
    return refreshFailed(ctx, request, row.user_id, 'session ended')
  }

  const next = await ctx.db.transaction().execute(async (trx) => {
    const spent = await trx
      .updateTable('refresh_tokens')
      .set({ used_at: now })
      .where('id', '=', row.id)
      .where('used_at', 'is', null)
      .executeTakeFirst()
    if (spent.numUpdatedRows === 0n) return undefined
    return insertRefresh(trx, row.session_id, nowMs, row.session_expires_at)
  })
  // A concurrent request spent the same token first: that is reuse too.
  if (next === undefined) return reuseDetected(ctx, request, row.session_id, row.user_id)

  await recordEvent(ctx, request, {
    type: 'authn_token_refreshed',
    outcome: 'success',
    userId: row.user_id,
    details: { session_id: row.session_id },
  })
  return pairFor(ctx, row.user_id, row.session_id, next)
}

async function reuseDetected(
  ctx: AppContext,
  request: FastifyRequest,
  sessionId: string,
  userId: string,
): Promise<never> {
  await revokeSession(ctx.db, sessionId, 'refresh token reuse', ctx.clock.now())
  await recordEvent(ctx, request, {
    type: 'authn_token_reuse',
    outcome: 'blocked',
    userId,
    details: { session_id: sessionId },
  })
  throw new AppError('RAMPART_AUTH_INVALID_TOKEN', 'The refresh token is invalid or expired')
}

async function refreshFailed(
  ctx: AppContext,
  request: FastifyRequest,
  userId: string | null,
  reason: string,
): Promise<never> {
  await recordEvent(ctx, request, {
    type: 'authn_token_invalid',
    outcome: 'failure',
    userId,
    details: { reason },
  })
  throw new AppError('RAMPART_AUTH_INVALID_TOKEN', 'The refresh token is invalid or expired')
}
