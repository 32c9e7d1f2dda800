/**
 * Response headers (OWASP HTTP Headers Cheat Sheet) through helmet, CORS through @fastify/cors,
 * and the few headers neither library sets. Helmet is used directly rather than through
 * @fastify/helmet, which rebuilds (and re-parses) the whole policy on every request: here the
 * header values are computed once at startup and copied onto every answer.
 */
import cors from '@fastify/cors'
import type { IncomingMessage, ServerResponse } from 'node:http'
import helmet, { type HelmetOptions } from 'helmet'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import { PUBLIC } from '../security/access.js'

// Helmet has no Permissions-Policy support, so this one header is set here.
const PERMISSIONS_POLICY = 'geolocation=(), microphone=(), camera=(), payment=(), usb=()'
const HSTS = 'max-age=31536000; includeSubDomains'

/** Puts every header of this module on a reply that never passed through the hooks. */
export type HeaderApplier = (request: FastifyRequest, reply: FastifyReply) => void

export async function registerSecurityHeaders(
  app: FastifyInstance,
  config: Config,
): Promise<HeaderApplier> {
  const helmetSet = helmetHeaders({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        objectSrc: ["'none'"],
        imgSrc: ["'self'", 'data:'],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    crossOriginEmbedderPolicy: false,
    xssFilter: true,
    noSniff: true,
    hidePoweredBy: true,
    // HSTS is only meaningful over HTTPS, so it is set below per request (RFC 6797 7.2).
    strictTransportSecurity: false,
  })
  const fixed = { ...helmetSet, 'permissions-policy': PERMISSIONS_POLICY }

  // The CORS plugin answers preflights on its own `OPTIONS *` route; a preflight carries no
  // credentials (Fetch standard, CORS-preflight request), so that route is public.
  app.addHook('onRoute', (route) => {
    if (route.method === 'OPTIONS' && route.url === '*')
      route.config = { ...route.config, policy: PUBLIC }
  })
  await app.register(cors, {
    origin: config.allowedOrigins.length === 0 ? false : [...config.allowedOrigins],
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    maxAge: 600,
    credentials: false,
    strictPreflight: true,
  })

  // onSend runs for every answer, refusals from any earlier hook included.
  app.addHook('onSend', (request, reply, payload, done) => {
    finalHeaders(request, reply, fixed)
    done(null, payload)
  })
  // Router-level refusals (a malformed URL, an over-long parameter) skip every hook.
  return (request, reply) => finalHeaders(request, reply, fixed)
}

/**
 * The headers helmet would set, computed once: helmet is run at startup against a response that
 * only records them. Applying helmet per request re-validated every header through Node's
 * setHeader and was the largest cost of a bare request here (measured with npm run bench).
 */
function helmetHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const recorded: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: unknown) =>
      void (recorded[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => void Reflect.deleteProperty(recorded, name.toLowerCase()),
  }
  const request = {} as unknown as IncomingMessage
  helmet(options)(request, response as unknown as ServerResponse, () => undefined)
  return Object.freeze(recorded)
}

function finalHeaders(
  request: FastifyRequest,
  reply: FastifyReply,
  fixed: Readonly<Record<string, string>>,
): void {
  reply.headers(fixed)
  reply.header('x-request-id', request.id)
  if (request.protocol === 'https') reply.header('strict-transport-security', HSTS)
  // Tokens and personal data must never sit in a shared or browser cache (ASVS 8.2.1).
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
  reply.removeHeader('server')
}
