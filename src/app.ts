/**
 * buildApp(config, deps): every plugin in a fixed order, then every module's routes. The outside
 * world (database, clock, logger) comes in as arguments, so tests pass real ones.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { v4 as uuidv4 } from 'uuid'
import { Problem } from './http/schemas.js'
import type { Config } from './config.js'
import type { AppContext } from './context.js'
import type { DatabaseHandle } from './db/database.js'
import { registerAuthentication } from './http/authenticate.js'
import { registerDocs } from './http/docs.js'
import { loggerOptions } from './http/logger.js'
import { registerProblemHandlers, sendProblem, toAppError } from './http/problem-handler.js'
import { registerSecurityHeaders, type HeaderApplier } from './http/security-headers.js'
import { validatorCompiler } from './http/validation.js'
import { accountRoutes } from './modules/accounts/routes.js'
import { adminRoutes } from './modules/admin/routes.js'
import { documentRoutes } from './modules/documents/routes.js'
import { healthRoutes } from './modules/health/routes.js'
import { sessionRoutes } from './modules/sessions/routes.js'
import { systemClock, type Clock } from './security/clock.js'
import { SecurityEvents } from './security/events.js'
import { FieldCipher } from './security/field-cipher.js'
import { PasswordPolicy } from './security/password-policy.js'
import { PasswordHasher, OWASP_ARGON2, type Argon2Params } from './security/passwords.js'
import { TokenService } from './security/tokens.js'

export interface AppDeps {
  readonly database: DatabaseHandle
  readonly clock?: Clock
  readonly logger?: FastifyBaseLogger
  readonly argon2?: Argon2Params
}

export const DEFAULT_BODY_LIMIT = 16 * 1024

/** Builds the app without listening; the caller awaits ready() or listen(). */
export async function buildApp(config: Config, deps: AppDeps): Promise<{ app: FastifyInstance; ctx: AppContext }> {
  // Filled in once the header plugins are registered; the router calls it only at request time.
  const headers: { apply?: HeaderApplier } = {}
  const app = Fastify({
    ...(deps.logger === undefined ? { logger: loggerOptions(config.logLevel) } : { loggerInstance: deps.logger }),
    trustProxy: config.trustProxy.length === 0 ? false : [...config.trustProxy],
    bodyLimit: DEFAULT_BODY_LIMIT,
    genReqId: () => uuidv4(),
    requestIdHeader: false,
    // Prototype pollution: reject bodies carrying __proto__ or constructor.prototype keys.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: false },
    // Malformed URLs and over-long parameters are refused by the router itself; they get the
    // same problem+json as every other error instead of the framework's own JSON.
    frameworkErrors: (error, request, reply) => {
      headers.apply?.(request, reply)
      sendProblem(reply, request, toAppError(error, request))
    },
  })
  app.setValidatorCompiler(validatorCompiler())
  // JSON (and form data where a route says so) only: a text/plain body is the wrong content
  // type, answered 400 rather than parsed as a string.
  app.removeContentTypeParser('text/plain')
  app.addSchema(Problem)

  const clock = deps.clock ?? systemClock
  const { db, dialect } = deps.database
  const ctx: AppContext = {
    config,
    db,
    dialect,
    clock,
    log: app.log,
    hasher: new PasswordHasher(deps.argon2 ?? OWASP_ARGON2, config.hashConcurrency, config.hashQueueLimit),
    passwordPolicy: new PasswordPolicy({ compositionRules: config.passwordCompositionRules }),
    tokens: new TokenService({ key: config.jwt, issuer: config.jwtIssuer, audience: config.jwtAudience, ttlSeconds: config.accessTokenTtlSeconds, clock }),
    events: new SecurityEvents(db, dialect, clock, app.log),
    cipher: new FieldCipher(config.encryptionKeys),
  }

  registerProblemHandlers(app)
  // Headers first: their hooks must run before authentication can end a request with a 401,
  // so refusals carry the security and CORS headers too.
  headers.apply = await registerSecurityHeaders(app, config)
  registerAuthentication(app, ctx)
  await registerDocs(app, config)

  await app.register(healthRoutes([() => deps.database.ping()]))
  await app.register(accountRoutes(ctx))
  await app.register(sessionRoutes(ctx))
  await app.register(documentRoutes(ctx))
  await app.register(adminRoutes(ctx))
  return { app, ctx }
}
