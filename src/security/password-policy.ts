/**
 * Password rules for signup, change and reset (OWASP ASVS 2.1): 12..128 characters, not on the
 * common-password list, not containing the username or the email's local part, and (a
 * configurable policy, on by default) upper, lower, digit and special characters.
 */
import { dictionary } from '@zxcvbn-ts/language-common'

export const PASSWORD_MIN = 12
export const PASSWORD_MAX = 128

export interface PasswordPolicyOptions {
  readonly compositionRules: boolean
}

export interface PasswordContext {
  readonly username?: string | undefined
  readonly email?: string | undefined
}

/** The common-password list shipped by @zxcvbn-ts/language-common (about 49,000 entries). */
export class PasswordPolicy {
  private readonly common: ReadonlySet<string>

  constructor(private readonly options: PasswordPolicyOptions) {
    this.common = new Set(dictionary['passwords-common'].map((p) => p.toLowerCase()))
  }

  get blocklistSize(): number {
    return this.common.size
  }

  /** Returns the problems with a password, an empty list when it is acceptable. */
  check(password: string, context: PasswordContext = {}): string[] {
    // Length in code points, so a surrogate pair counts as one character (NIST SP 800-63B 5.1.1.2).
    const length = password.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '_').length
    if (length < PASSWORD_MIN) return [`must be at least ${PASSWORD_MIN} characters`]
    if (length > PASSWORD_MAX) return [`must be at most ${PASSWORD_MAX} characters`]

    const problems: string[] = []
    const lower = password.toLowerCase()
    if (this.common.has(lower)) problems.push('is too common')
    if (containsIdentity(lower, context)) problems.push('must not contain the username or email')
    if (this.options.compositionRules) problems.push(...composition(password))
    return problems
  }
}

function containsIdentity(lower: string, context: PasswordContext): boolean {
  const local = context.email?.split('@')[0]?.toLowerCase()
  const username = context.username?.toLowerCase()
  return [username, local].some(
    (part) => part !== undefined && part.length >= 3 && lower.includes(part),
  )
}

function composition(password: string): string[] {
  const missing: string[] = []
  if (!/\p{Lu}/u.test(password)) missing.push('an uppercase letter')
  if (!/\p{Ll}/u.test(password)) missing.push('a lowercase letter')
  if (!/\p{Nd}/u.test(password)) missing.push('a digit')
  if (!/[^\p{L}\p{Nd}]/u.test(password)) missing.push('a special character')
  return missing.length === 0 ? [] : [`must contain ${missing.join(', ')}`]
}
