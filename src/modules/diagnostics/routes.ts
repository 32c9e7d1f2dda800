/**
 * POST /diagnostics/ping (admin): is a host reachable, and how fast. The host is validated, then
 * resolved and checked by the same egress policy as /fetch-url before anything is run.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { AppContext } from '../../context.js'
import { recordEvent } from '../../http/authenticate.js'
import { AppError, invalid } from '../../http/errors.js'
import { problems } from '../../http/schemas.js'
import { role } from '../../security/access.js'
import { resolveChecked, type Egress } from '../../security/egress.js'
import { BoundedSemaphore } from '../../security/semaphore.js'
import { isValidPingHost, PingUnavailable, pingOnce } from './ping.js'

const PingBody = Type.Object(
  {
    host: Type.String({
      minLength: 1,
      maxLength: 253,
      description: 'RFC 1123 host name or IP literal',
    }),
  },
  { additionalProperties: false },
)
const PingResultSchema = Type.Object({
  host: Type.String(),
  reachable: Type.Boolean(),
  rtt_ms: Type.Union([Type.Number(), Type.Null()]),
})

// A handful of pings at once is plenty for diagnostics; more would only spawn processes.
const CONCURRENT_PINGS = 4
const QUEUED_PINGS = 16

export function diagnosticsRoutes(ctx: AppContext, egress: Egress) {
  const slots = new BoundedSemaphore(CONCURRENT_PINGS, QUEUED_PINGS)
  const { pingPath, pingTimeoutSeconds } = ctx.config

  return async (plain: FastifyInstance): Promise<void> => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>()
    app.post(
      '/diagnostics/ping',
      {
        config: { policy: role('admin') },
        schema: {
          tags: ['diagnostics'],
          security: [{ bearer: [] }],
          body: PingBody,
          response: { 200: PingResultSchema, ...problems(400, 401, 403, 422, 503) },
        },
      },
      async (request) => {
        const { host } = request.body
        if (!isValidPingHost(host)) {
          throw invalid([
            { field: 'host', message: 'must be an RFC 1123 host name or an IP address' },
          ])
        }

        const named = egress.policy.checkHostName(host)
        const verdict = named.allowed
          ? await resolveChecked(egress.policy, egress.resolver, host)
          : named
        if (!verdict.allowed) {
          await recordEvent(ctx, request, {
            type: 'egress_blocked',
            outcome: 'blocked',
            details: { reason: verdict.reason, host },
          })
          throw new AppError('RAMPART_EGRESS_DENIED', 'Host not allowed')
        }

        const address = verdict.addresses[0] ?? ''
        const result = await slots
          .run(() => pingOnce(pingPath, address, pingTimeoutSeconds))
          .catch((error: unknown) => {
            if (!(error instanceof PingUnavailable)) throw error
            request.log.warn({ reason: error.message }, 'ping cannot be run')
            throw new AppError('RAMPART_PING_UNAVAILABLE', 'ping is not available on this server')
          })
        if (result === undefined)
          throw new AppError(
            'RAMPART_PING_UNAVAILABLE',
            'Too many pings in progress, retry shortly',
          )
        return { host, reachable: result.value.reachable, rtt_ms: result.value.rttMs }
      },
    )
  }
}
