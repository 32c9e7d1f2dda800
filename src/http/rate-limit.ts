/**
 * The global per-client request ceiling, checked in onRequest before authentication so a flood
 * of bad tokens is refused before any token is verified. Every response carries the
 * RateLimit-Policy and RateLimit fields of this ceiling (draft-ietf-httpapi-ratelimit-headers).
 */
import type { FastifyInstance } from 'fastify'
import { limitKeyForAddress } from '../security/client-address.js'
import { rateLimitHeaders } from '../security/rate-limits.js'
import type { RequestLimits } from '../security/request-limits.js'

export function registerGlobalLimit(app: FastifyInstance, limits: RequestLimits): void {
  app.addHook('onRequest', async (request, reply) => {
    const state = await limits.enforceOpen(limits.global, limitKeyForAddress(request.ip))
    if (state === undefined) return
    reply.headers(
      rateLimitHeaders(
        state.policy,
        state.limit,
        state.windowSeconds,
        state.limit - state.used,
        state.resetSeconds,
      ),
    )
  })
}
