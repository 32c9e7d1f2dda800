/**
 * The OpenAPI 3.1 document, generated from the same schemas that validate requests, and the
 * interactive docs. Open to anyone in development; admin-only in production (API surface is
 * reconnaissance material, OWASP API9).
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, RouteOptions } from 'fastify'
import type { Config } from '../config.js'
import { PUBLIC, role } from '../security/access.js'

export async function registerDocs(app: FastifyInstance, config: Config): Promise<void> {
  const policy = config.env === 'production' ? role('admin') : PUBLIC

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Rampart API',
        version: '0.1.0',
        description: 'A secure-by-default HTTP API server. Errors are RFC 9457 problem+json.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  })

  app.get('/openapi.json', { config: { policy }, schema: { hide: true } }, () => app.swagger())

  await app.register(async (docs) => {
    // swagger-ui registers its own routes (and static files); they get the docs policy here.
    docs.addHook('onRoute', (route: RouteOptions) => {
      route.config = { ...route.config, policy }
    })
    await docs.register(swaggerUi, { routePrefix: '/docs', staticCSP: false })
  })
}
