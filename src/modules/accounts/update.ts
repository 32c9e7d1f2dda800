/**
 * PATCH /users/{id}: field ownership (only admins touch roles and is_active: no mass assignment
 * of privileges, OWASP API3), re-authentication before the holder changes a password or the
 * email that password reset trusts (ASVS 2.1.6, 3.7.1), and session termination on deactivation,
 * role change and password change, all in one transaction with the change itself.
 */
import type { FastifyRequest } from 'fastify'
import { sql, type Updateable } from 'kysely'
import type { AppContext } from '../../context.js'
import type { UsersTable } from '../../db/schema.js'
import { isUniqueViolation } from '../../db/errors.js'
import { recordEvent } from '../../http/authenticate.js'
import { AppError, forbidden, invalid, notFound } from '../../http/errors.js'
import { hasRole, type Principal } from '../../security/access.js'
import { reservePasswordCheck } from '../sessions/password-check.js'
import { isoAt } from '../../security/clock.js'
import { revokeUserSessions } from '../sessions/store.js'
import type { UpdateUserBodyT } from './schemas.js'
import { accountRuleErrors, normalizeEmail } from './service.js'
import { findUserById, hasAdmin, type UserRow } from './store.js'

// Serializes role and activation changes across instances sharing one PostgreSQL database.
const ADMIN_CHANGE_LOCK = 0x52414d51

export async function applyUserUpdate(
  ctx: AppContext,
  request: FastifyRequest,
  caller: Principal,
  userId: string,
  body: UpdateUserBodyT,
): Promise<UserRow> {
  const isAdmin = hasRole(caller.roles, 'admin')
  const self = caller.userId === userId
  if (!isAdmin && (body.roles !== undefined || body.is_active !== undefined)) {
    throw forbidden('Only an admin may change roles or activation')
  }
  if (body.password !== undefined && !self) {
    throw forbidden('Only the account holder may change a password; use password reset')
  }

  const row = await findUserById(ctx.db, userId)
  if (row === undefined) throw notFound()
  if (self && (body.password !== undefined || body.email !== undefined)) {
    checkNewPassword(ctx, row, body)
    await reauthenticate(ctx, request, row, body.current_password)
  }
  const changes = await buildChanges(ctx, body)
  const credentialsChanged = changes.password_hash !== undefined || changes.email !== undefined
  const endSessions =
    changes.password_hash !== undefined || changes.roles !== undefined || body.is_active === false

  const nowMs = ctx.clock.now()
  try {
    await ctx.db.transaction().execute(async (trx) => {
      // Two admins demoting each other at once must not both see the other as the last admin.
      if (
        ctx.dialect === 'postgres' &&
        (changes.roles !== undefined || body.is_active !== undefined)
      ) {
        await sql`select pg_advisory_xact_lock(${ADMIN_CHANGE_LOCK})`.execute(trx)
      }
      await trx
        .updateTable('users')
        .set({ ...changes, updated_at: isoAt(nowMs) })
        .where('id', '=', userId)
        .execute()
      if (endSessions) await revokeUserSessions(trx, userId, 'account changed', nowMs)
      // A reset link mailed before the change must not undo it (or reach the old address).
      if (credentialsChanged)
        await trx.deleteFrom('password_reset_tokens').where('user_id', '=', userId).execute()
      if (changes.roles !== undefined || body.is_active === false) await assertAnAdminRemains(trx)
    })
  } catch (error) {
    if (isUniqueViolation(error))
      throw new AppError('RAMPART_ACCOUNT_EXISTS', 'The username or email cannot be used')
    throw error
  }

  await recordUpdateEvents(ctx, request, userId, body, changes)
  const updated = await findUserById(ctx.db, userId)
  if (updated === undefined) throw notFound()
  return updated
}

async function buildChanges(
  ctx: AppContext,
  body: UpdateUserBodyT,
): Promise<Updateable<UsersTable>> {
  const changes: Updateable<UsersTable> = {}
  if (body.email !== undefined) {
    changes.email = normalizeEmail(body.email)
    changes.email_lower = changes.email.toLowerCase()
  }
  if (body.phone !== undefined) changes.phone = body.phone
  if (body.national_id !== undefined) {
    changes.national_id_enc =
      body.national_id === null ? null : ctx.cipher.encrypt(body.national_id, 'users.national_id')
  }
  if (body.roles !== undefined) changes.roles = JSON.stringify(body.roles)
  if (body.is_active !== undefined) changes.is_active = body.is_active ? 1 : 0
  if (body.password !== undefined) changes.password_hash = await ctx.hasher.hash(body.password)
  return changes
}

function checkNewPassword(ctx: AppContext, row: UserRow, body: UpdateUserBodyT): void {
  const errors = []
  if (body.current_password === undefined) {
    errors.push({
      field: 'current_password',
      message: 'is required to change the password or email',
    })
  }
  if (body.password !== undefined) {
    errors.push(
      ...accountRuleErrors(ctx, {
        username: row.username,
        email: body.email ?? row.email,
        password: body.password,
      }),
    )
  }
  if (errors.length > 0) throw invalid(errors)
}

/**
 * Checks the holder's current password under the same brute-force throttle as login, so a
 * stolen session is no unlimited password-guessing oracle; failures are security events.
 */
async function reauthenticate(
  ctx: AppContext,
  request: FastifyRequest,
  row: UserRow,
  password = '',
): Promise<void> {
  const check = await reservePasswordCheck(
    ctx,
    request,
    row.username,
    're-authentication throttled',
  )
  const result = await check.run(ctx.hasher.verify(row.password_hash, password))
  if (result.ok) {
    await check.succeeded()
    return
  }
  await check.failed()
  await recordEvent(ctx, request, {
    type: 'authn_reauth_fail',
    outcome: 'failure',
    details: { target_user_id: row.id },
  })
  throw invalid([{ field: 'current_password', message: 'is incorrect' }])
}

/** Refuses a change that would leave no active admin (nobody could administer the server). */
async function assertAnAdminRemains(trx: AppContext['db']): Promise<void> {
  if (!(await hasAdmin(trx)))
    throw new AppError('RAMPART_HTTP_CONFLICT', 'At least one active admin must remain')
}

async function recordUpdateEvents(
  ctx: AppContext,
  request: FastifyRequest,
  userId: string,
  body: UpdateUserBodyT,
  changes: Updateable<UsersTable>,
): Promise<void> {
  const fields = Object.keys(body).filter(
    (k) => k !== 'password' && k !== 'current_password' && k !== 'national_id',
  )
  if (changes.roles !== undefined || body.is_active !== undefined) {
    await recordEvent(ctx, request, {
      type: 'privilege_changed',
      outcome: 'success',
      details: { target_user_id: userId, roles: body.roles, is_active: body.is_active },
    })
  }
  if (changes.password_hash !== undefined) {
    await recordEvent(ctx, request, {
      type: 'password_changed',
      outcome: 'success',
      details: { target_user_id: userId },
    })
  }
  await recordEvent(ctx, request, {
    type: 'user_updated',
    outcome: 'success',
    details: { target_user_id: userId, fields },
  })
}
