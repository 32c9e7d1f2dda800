/** Liveness and readiness. */
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { PUBLIC } from '../../security/access.js'

export type ReadinessCheck = () => Promise<boolean>

const Status = Type.Object({ status: Type.String() })

export function healthRoutes(checks: readonly ReadinessCheck[]) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get(
      '/health',
      {
        config: { policy: PUBLIC },
        schema: { tags: ['health'], response: { 200: Status } },
      },
      () => ({ status: 'ok' }),
    )

    app.get(
      '/ready',
      {
        config: { policy: PUBLIC },
        schema: { tags: ['health'], response: { 200: Status, 503: Status } },
      },
      async (_request, reply) => {
        const results = await Promise.all(checks.map((check) => check().catch(() => false)))
        const ready = results.every(Boolean)
        return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable' })
      },
    )
  }
}
