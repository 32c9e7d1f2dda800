/** Password reset: ask for a link by mail, then spend its token on a new password. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { AppContext } from '../../context.js'
import { NoContent, problems } from '../../http/schemas.js'
import { PUBLIC } from '../../security/access.js'
import { PASSWORD_MAX } from '../../security/password-policy.js'
import { RESET_ACCEPTED, confirmReset, requestReset } from './service.js'

const ResetRequest = Type.Object(
  { email: Type.String({ format: 'email', minLength: 3, maxLength: 254 }) },
  { additionalProperties: false },
)

const ResetConfirm = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 128 }),
    // The policy's own length rules answer with their own message (service.ts).
    new_password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX * 4 }),
  },
  { additionalProperties: false },
)

const Accepted = Type.Object({ message: Type.String() })

export function passwordResetRoutes(ctx: AppContext) {
  return async (plain: FastifyInstance): Promise<void> => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>()

    app.post(
      '/password-reset',
      {
        config: { policy: PUBLIC },
        schema: {
          tags: ['password reset'],
          summary: 'Mail a reset link; the answer is the same whether or not the address exists',
          body: ResetRequest,
          response: { 202: Accepted, ...problems(400, 413, 422, 429, 503) },
        },
      },
      async (request, reply) => {
        await requestReset(ctx, request, request.body.email)
        return reply.code(202).send({ message: RESET_ACCEPTED })
      },
    )

    app.post(
      '/password-reset/confirm',
      {
        config: { policy: PUBLIC },
        schema: {
          tags: ['password reset'],
          summary: 'Set a new password with a reset token; every session of the account ends',
          body: ResetConfirm,
          response: { 204: NoContent, ...problems(400, 413, 422, 429, 503) },
        },
      },
      async (request, reply) => {
        await confirmReset(ctx, request, request.body.token, request.body.new_password)
        return reply.code(204).send(null)
      },
    )
  }
}
