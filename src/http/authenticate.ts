/**
 * Authentication and route policies, deny by default (OWASP A01, ASVS 4.1.3). Every route must
 * declare `config.policy`; registering one without it fails at boot. A protected request needs a
 * valid bearer token whose session is live in the database (a primary-key read on every request,
 * so logout and revocation take effect at once on every instance), then the route's minimum role.
 */
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import type { AppContext } from '../context.js'
import {
  hasRole,
  isPolicy,
  isRole,
  type Policy,
  type Principal,
  type Role,
} from '../security/access.js'
import type { EventInput } from '../security/events.js'
import { AppError } from './errors.js'
import { liveSessionQuery, type LiveSession } from './live-session.js'
import { isoAt } from '../security/clock.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    policy?: Policy
  }
  interface FastifyRequest {
    principal: Principal | null
    /** Why authentication failed, for the security log only. */
    authFailure: string | null
    /** Set once a handler has recorded its own security event for this request. */
    eventRecorded: boolean
  }
}

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i

/** The caller, or a 401 for a route that forgot its policy (which boot prevents). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) throw new AppError('RAMPART_AUTH_UNAUTHENTICATED')
  return request.principal
}

/** Request fields that every security event carries. */
export function eventContext(request: FastifyRequest): Omit<EventInput, 'type' | 'outcome'> {
  return {
    ip: request.ip,
    userAgent: request.headers['user-agent'] ?? null,
    method: request.method,
    path: request.url.split('?')[0] ?? null,
    requestId: request.id,
    userId: request.principal?.userId ?? null,
  }
}

/** Records a handler's own event and marks the request so onResponse does not add another. */
export async function recordEvent(
  ctx: AppContext,
  request: FastifyRequest,
  event: Omit<EventInput, keyof ReturnType<typeof eventContext>> & Partial<EventInput>,
): Promise<void> {
  request.eventRecorded = true
  await ctx.events.record({ ...eventContext(request), ...event })
}

export function registerAuthentication(app: FastifyInstance, ctx: AppContext): void {
  app.decorateRequest('principal', null)
  app.decorateRequest('authFailure', null)
  app.decorateRequest('eventRecorded', false)

  // Checked when the app is ready rather than per route, so a plugin's own onRoute hook (the
  // docs plugin's) can still attach the policy to routes a third-party plugin registers.
  const routes: RouteOptions[] = []
  app.addHook('onRoute', (route: RouteOptions) => void routes.push(route))
  app.addHook('onReady', async () => {
    const missing = routes.find((route) => !isPolicy(route.config?.policy))
    if (missing !== undefined) {
      throw new Error(`route ${String(missing.method)} ${missing.url} declares no access policy`)
    }
    routes.length = 0
  })

  const liveSession = liveSessionQuery(ctx.db)
  app.addHook('onRequest', async (request) => {
    const policy = request.routeOptions.config.policy
    if (policy === undefined || 'public' in policy) return
    request.principal = await authenticate(ctx, request, liveSession)
    if (!hasRole(request.principal.roles, policy.role)) {
      request.authFailure = `role ${policy.role} required`
      throw new AppError('RAMPART_AUTHZ_FORBIDDEN', 'Your role does not allow this')
    }
  })

  // Recorded before the answer leaves, so a client that has seen a refusal can count on the
  // event being stored (an audit trail must not lag the actions it records).
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.eventRecorded) return payload
    const type = {
      401: 'authn_token_invalid',
      403: 'authz_fail',
      429: 'excess_rate_limit_exceeded',
    }[reply.statusCode]
    if (type === undefined) return payload
    request.eventRecorded = true
    const details = request.authFailure === null ? {} : { reason: request.authFailure }
    await ctx.events.record({ ...eventContext(request), type, outcome: 'blocked', details })
    return payload
  })
}

type SessionLookup = (sessionId: string, nowIso: string) => Promise<LiveSession | undefined>

async function authenticate(
  ctx: AppContext,
  request: FastifyRequest,
  liveSession: SessionLookup,
): Promise<Principal> {
  const header = request.headers.authorization
  const match = header === undefined ? null : BEARER.exec(header)
  if (match?.[1] === undefined) {
    request.authFailure =
      header === undefined ? 'missing bearer token' : 'malformed authorization header'
    throw new AppError('RAMPART_AUTH_UNAUTHENTICATED', 'A valid bearer token is required')
  }

  const claims = await ctx.tokens.verifyAccess(match[1])
  if (claims === undefined) return reject(request, 'token failed verification')

  const session = await liveSession(claims.sid, isoAt(ctx.clock.now()))
  if (session?.user_id !== claims.sub) return reject(request, 'session not live')
  const roles = parseRoles(session.roles)
  return { userId: session.user_id, sessionId: claims.sid, username: session.username, roles }
}

function reject(request: FastifyRequest, reason: string): never {
  request.authFailure = reason
  throw new AppError('RAMPART_AUTH_INVALID_TOKEN', 'The access token is invalid or expired')
}

/** Parses the stored roles column; anything unrecognised is dropped, never trusted. */
export function parseRoles(stored: string): Role[] {
  try {
    const value: unknown = JSON.parse(stored)
    return Array.isArray(value) ? value.filter(isRole) : []
  } catch {
    return []
  }
}
