/** Account rules shared by signup, the admin bootstrap and the CLI. */
import { Type } from 'typebox'
import { v7 as uuidv7 } from 'uuid'
import type { AppContext } from '../../context.js'
import { isUniqueViolation } from '../../db/errors.js'
import { AppError, invalid, type FieldError } from '../../http/errors.js'
import { isoAt } from '../../security/clock.js'
import type { Role } from '../../security/access.js'
import { parseRoles } from '../../http/authenticate.js'
import { strictValidator } from '../../http/validation.js'
import { insertUser, type UserRow } from './store.js'
import { Email, Phone, Username, type UserT } from './schemas.js'

/** Names nobody may sign up with, compared case-insensitively (impersonation of staff/system). */
export const RESERVED_USERNAMES: ReadonlySet<string> = new Set([
  'admin',
  'administrator',
  'root',
  'system',
  'sysadmin',
  'superuser',
  'support',
  'security',
  'staff',
  'moderator',
  'owner',
  'rampart',
  'api',
  'www',
  'mail',
  'postmaster',
  'hostmaster',
  'webmaster',
  'abuse',
  'noc',
  'help',
  'info',
  'null',
  'undefined',
  'anonymous',
  'nobody',
  'guest',
  'me',
  'self',
  'everyone',
  'operator',
  'daemon',
  'service',
  'official',
])

export interface NewAccount {
  readonly username: string
  readonly email: string
  readonly password: string
  readonly phone?: string | undefined
  readonly roles: readonly Role[]
}

/** Lowercases the domain of an address; the local part is kept as given (RFC 5321 2.4). */
export function normalizeEmail(email: string): string {
  const at = email.lastIndexOf('@')
  return at < 0 ? email : email.slice(0, at) + email.slice(at).toLowerCase()
}

/** Self-signup may not take a reserved name; operators creating an admin may (ASVS 2.x, OWASP). */
export function reservedNameErrors(username: unknown): FieldError[] {
  if (typeof username !== 'string' || !RESERVED_USERNAMES.has(username.toLowerCase())) return []
  return [{ field: 'username', message: 'is reserved' }]
}

// The signup schema's own field rules, for accounts made outside HTTP (CLI, bootstrap admin).
const identityValid = strictValidator(
  Type.Object({ username: Username, email: Email, phone: Type.Optional(Phone) }),
)

function identityErrors(input: NewAccount): FieldError[] {
  const fields = {
    username: input.username,
    email: input.email,
    ...(input.phone === undefined ? {} : { phone: input.phone }),
  }
  if (identityValid(fields)) return []
  const names = new Set(
    (identityValid.errors ?? []).map((e) => e.instancePath.replace(/^\//, '') || 'body'),
  )
  return [...names].map((field) => ({ field, message: 'is not valid' }))
}

/** The password policy, which a schema cannot express (length, blocklist, identity, composition). */
export function accountRuleErrors(
  ctx: AppContext,
  input: Partial<Record<'username' | 'email' | 'password', unknown>>,
): FieldError[] {
  const errors: FieldError[] = []
  const username = typeof input.username === 'string' ? input.username : undefined
  const email = typeof input.email === 'string' ? input.email : undefined
  if (typeof input.password === 'string') {
    const problems = ctx.passwordPolicy.check(input.password, { username, email })
    if (problems.length > 0) errors.push({ field: 'password', message: problems.join('; ') })
  }
  return errors
}

/** Creates an account after every rule passed; a taken name or address is one generic 409. */
export async function createAccount(ctx: AppContext, input: NewAccount): Promise<UserRow> {
  const errors = [...identityErrors(input), ...accountRuleErrors(ctx, input)]
  if (errors.length > 0) throw invalid(errors)

  const email = normalizeEmail(input.email)
  const now = isoAt(ctx.clock.now())
  const row: UserRow = {
    id: uuidv7(),
    username: input.username,
    username_lower: input.username.toLowerCase(),
    email,
    email_lower: email.toLowerCase(),
    phone: input.phone ?? null,
    password_hash: await ctx.hasher.hash(input.password),
    roles: JSON.stringify(input.roles),
    is_active: 1,
    mfa_enabled: 0,
    national_id_enc: null,
    created_at: now,
    updated_at: now,
  }
  try {
    await insertUser(ctx.db, row)
  } catch (error) {
    // One message for a taken username and a taken email (OWASP: no account enumeration).
    if (isUniqueViolation(error))
      throw new AppError('RAMPART_ACCOUNT_EXISTS', 'The username or email cannot be used')
    throw error
  }
  return row
}

/** The public user object; national_id only when the caller may see it. */
export function userView(ctx: AppContext, row: UserRow, withNationalId = false): UserT {
  const view: UserT = {
    id: row.id,
    username: row.username,
    email: row.email,
    phone: row.phone,
    roles: parseRoles(row.roles),
    is_active: row.is_active === 1,
    mfa_enabled: row.mfa_enabled === 1,
    created_at: row.created_at,
  }
  if (withNationalId) {
    view.national_id =
      row.national_id_enc === null
        ? null
        : ctx.cipher.decrypt(row.national_id_enc, 'users.national_id')
  }
  return view
}
