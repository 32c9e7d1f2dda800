/**
 * POST /fetch-url: fetches a page server-side under the egress policy. A refused destination is a
 * security event carrying the precise reason; the client only ever learns 'URL not allowed'.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { AppContext } from '../../context.js'
import { recordEvent } from '../../http/authenticate.js'
import { AppError } from '../../http/errors.js'
import { problems } from '../../http/schemas.js'
import { role } from '../../security/access.js'
import type { Egress } from '../../security/egress.js'
import { FetchError, PageFetcher } from './fetcher.js'

const FetchBody = Type.Object(
  { url: Type.String({ minLength: 1, maxLength: 2048, description: 'An http or https URL' }) },
  { additionalProperties: false },
)

const Nullable = (description: string) => Type.Union([Type.String(), Type.Null()], { description })

const FetchedPageSchema = Type.Object({
  url: Type.String({ description: 'The URL as asked for' }),
  final_url: Type.String({ description: 'The URL after redirects' }),
  status: Type.Integer(),
  content_type: Nullable('The Content-Type of the final answer'),
  title: Nullable('The HTML title, when the page has one'),
  content: Type.String({ description: 'At most the first 1,000 characters of text' }),
})

export function fetchRoutes(ctx: AppContext, egress: Egress) {
  const fetcher = new PageFetcher(egress.policy, egress.resolver, {
    maxBytes: ctx.config.fetchMaxBytes,
    timeoutMs: ctx.config.fetchTimeoutMs,
    connectTimeoutMs: ctx.config.fetchConnectTimeoutMs,
  })

  return async (plain: FastifyInstance): Promise<void> => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>()
    app.post(
      '/fetch-url',
      {
        config: { policy: role('user') },
        schema: {
          tags: ['fetch'],
          security: [{ bearer: [] }],
          body: FetchBody,
          response: { 200: FetchedPageSchema, ...problems(400, 401, 403, 422, 502, 504) },
        },
      },
      async (request) => {
        try {
          return await fetcher.fetch(request.body.url)
        } catch (error) {
          throw await fetchFailure(ctx, request, error)
        }
      },
    )
  }
}

/** Turns a failed fetch into the client's problem, logging refusals as security events. */
async function fetchFailure(
  ctx: AppContext,
  request: FastifyRequest,
  error: unknown,
): Promise<unknown> {
  if (!(error instanceof FetchError)) return error
  if (error.kind === 'timeout') {
    return new AppError('RAMPART_FETCH_TIMEOUT', 'The remote server did not answer in time')
  }
  if (error.kind === 'failed') {
    request.log.info({ reason: error.reason, host: error.host }, 'fetch failed')
    const detail =
      error.reason === 'too many redirects'
        ? 'Too many redirects'
        : 'The remote server could not be fetched'
    return new AppError('RAMPART_FETCH_FAILED', detail)
  }
  // The URL itself is not logged: its path and query may carry secrets.
  await recordEvent(ctx, request, {
    type: 'egress_blocked',
    outcome: 'blocked',
    details: { reason: error.reason, host: error.host, hop: error.hop },
  })
  return new AppError('RAMPART_EGRESS_DENIED', 'URL not allowed')
}
