/**
 * Roles and route policies, deny by default (OWASP A01). Roles are hierarchical:
 * admin includes user, user includes viewer. Every route declares a policy in its config.
 */

export const ROLES = ['viewer', 'user', 'admin'] as const
export type Role = (typeof ROLES)[number]

const RANK: Record<Role, number> = { viewer: 1, user: 2, admin: 3 }

export type Policy = { readonly public: true } | { readonly role: Role }

export const PUBLIC: Policy = { public: true }
export const role = (minimum: Role): Policy => ({ role: minimum })

/** The authenticated caller, as the session check established it. */
export interface Principal {
  readonly userId: string
  readonly sessionId: string
  readonly username: string
  readonly roles: readonly Role[]
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value)
}

/** True when any of the caller's roles ranks at or above the minimum. */
export function hasRole(roles: readonly Role[], minimum: Role): boolean {
  return roles.some((r) => RANK[r] >= RANK[minimum])
}

export function isPolicy(value: unknown): value is Policy {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as { public?: unknown; role?: unknown }
  return candidate.public === true || isRole(candidate.role)
}
