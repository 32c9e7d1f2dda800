/** Sessions and tokens: password grant (form and JSON), refresh rotation, logout. */
import formbody from '@fastify/formbody'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { AppContext } from '../../context.js'
import { principalOf, recordEvent } from '../../http/authenticate.js'
import { NoContent, problems } from '../../http/schemas.js'
import { PUBLIC, role } from '../../security/access.js'
import { limitKeyForAddress } from '../../security/client-address.js'
import { revokeSession, revokeUserSessions } from './store.js'
import { login, refresh } from './service.js'

const Credentials = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 254 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    otp: Type.Optional(Type.String({ pattern: '^[0-9]{6,8}$' })),
  },
  { additionalProperties: false },
)

const TokenPairSchema = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires' }),
})

const RefreshBody = Type.Object(
  { refresh_token: Type.String({ minLength: 1, maxLength: 512 }) },
  { additionalProperties: false },
)

const loginResponses = { 200: TokenPairSchema, ...problems(400, 401, 413, 422, 429, 503) }

export function sessionRoutes(ctx: AppContext) {
  return async (plain: FastifyInstance): Promise<void> => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>()

    // Form bodies are parsed for this route alone: everywhere else a form (which a cross-site
    // page can send without a CORS preflight) is the wrong content type.
    await app.register(async (plainForm) => {
      await plainForm.register(formbody)
      const form = plainForm.withTypeProvider<TypeBoxTypeProvider>()
      form.post(
        '/token',
        {
          config: { policy: PUBLIC },
          schema: {
            tags: ['sessions'],
            summary: 'OAuth2 password grant (application/x-www-form-urlencoded)',
            consumes: ['application/x-www-form-urlencoded'],
            body: Credentials,
            response: loginResponses,
          },
        },
        (request) => login(ctx, request, request.body.username, request.body.password),
      )
    })

    app.post(
      '/login',
      {
        config: { policy: PUBLIC },
        schema: {
          tags: ['sessions'],
          summary: 'Log in with JSON credentials',
          body: Credentials,
          response: loginResponses,
        },
      },
      (request) => login(ctx, request, request.body.username, request.body.password),
    )

    app.post(
      '/token/refresh',
      {
        config: { policy: PUBLIC },
        schema: {
          tags: ['sessions'],
          summary: 'Spend a refresh token for a new pair (reuse revokes the session)',
          body: RefreshBody,
          response: { 200: TokenPairSchema, ...problems(400, 401, 422, 429) },
        },
      },
      async (request) => {
        await ctx.limits.enforceOpen(ctx.limits.refresh, limitKeyForAddress(request.ip))
        return refresh(ctx, request, request.body.refresh_token)
      },
    )

    app.post(
      '/logout',
      {
        config: { policy: role('viewer') },
        schema: {
          tags: ['sessions'],
          security: [{ bearer: [] }],
          response: { 204: NoContent, ...problems(401) },
        },
      },
      async (request, reply) => {
        const caller = principalOf(request)
        await revokeSession(ctx.db, caller.sessionId, 'logout', ctx.clock.now())
        await recordEvent(ctx, request, {
          type: 'session_logout',
          outcome: 'success',
          details: { session_id: caller.sessionId },
        })
        return reply.code(204).send(null)
      },
    )

    app.post(
      '/logout/all',
      {
        config: { policy: role('viewer') },
        schema: {
          tags: ['sessions'],
          security: [{ bearer: [] }],
          response: { 204: NoContent, ...problems(401) },
        },
      },
      async (request, reply) => {
        const caller = principalOf(request)
        const ended = await revokeUserSessions(ctx.db, caller.userId, 'logout all', ctx.clock.now())
        await recordEvent(ctx, request, {
          type: 'session_logout_all',
          outcome: 'success',
          details: { sessions_ended: ended },
        })
        return reply.code(204).send(null)
      },
    )
  }
}
