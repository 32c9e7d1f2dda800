/**
 * buildApp(config, deps): every plugin in a fixed order, then every module's routes. The outside
 * world (database, clock, logger) comes in as arguments, so tests pass real ones.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { v4 as uuidv4 } from 'uuid'
import { Problem } from './http/schemas.js'
import { BackgroundTasks } from './background-tasks.js'
import type { Config } from './config.js'
import type { AppContext } from './context.js'
import type { DatabaseHandle } from './db/database.js'
import { registerAuthentication } from './http/authenticate.js'
import { registerDocs } from './http/docs.js'
import { loggerOptions } from './http/logger.js'
import { registerProblemHandlers, sendProblem, toAppError } from './http/problem-handler.js'
import { registerGlobalLimit } from './http/rate-limit.js'
import { registerSecurityHeaders, type HeaderApplier } from './http/security-headers.js'
import { validatorCompiler } from './http/validation.js'
import { accountRoutes } from './modules/accounts/routes.js'
import { adminRoutes } from './modules/admin/routes.js'
import { diagnosticsRoutes } from './modules/diagnostics/routes.js'
import { documentRoutes } from './modules/documents/routes.js'
import { createMailer, type Mailer } from './mail/mailer.js'
import { fetchRoutes } from './modules/fetch/routes.js'
import { healthRoutes } from './modules/health/routes.js'
import { paymentRoutes } from './modules/payments/routes.js'
import { passwordResetRoutes } from './modules/password-reset/routes.js'
import { sessionRoutes } from './modules/sessions/routes.js'
import { systemClock, type Clock } from './security/clock.js'
import { EgressPolicy, systemResolver, type Resolver } from './security/egress.js'
import { SecurityEvents } from './security/events.js'
import { FieldCipher } from './security/field-cipher.js'
import { PasswordPolicy } from './security/password-policy.js'
import { PasswordHasher, OWASP_ARGON2, type Argon2Params } from './security/passwords.js'
import {
  limiterFactory,
  openSqliteLimits,
  pingRedis,
  type LimiterBackend,
} from './security/rate-limit-store.js'
import { RequestLimits } from './security/request-limits.js'
import { TokenService } from './security/tokens.js'

export interface AppDeps {
  readonly database: DatabaseHandle
  readonly clock?: Clock
  readonly logger?: FastifyBaseLogger
  readonly argon2?: Argon2Params
  /** Shared limit store; made from REDIS_URL when absent. The caller closes one it passes. */
  readonly redis?: Redis
  readonly mailer?: Mailer
  /** DNS for outbound requests (A and AAAA answers); tests replace it when DNS is the subject. */
  readonly resolver?: Resolver
}

export const DEFAULT_BODY_LIMIT = 16 * 1024

/** Builds the app without listening; the caller awaits ready() or listen(). */
export async function buildApp(
  config: Config,
  deps: AppDeps,
): Promise<{ app: FastifyInstance; ctx: AppContext }> {
  // Filled in once the header plugins are registered; the router calls it only at request time.
  const headers: { apply?: HeaderApplier } = {}
  const app = Fastify({
    ...(deps.logger === undefined
      ? { logger: loggerOptions(config.logLevel) }
      : { loggerInstance: deps.logger }),
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
  const redis = deps.redis ?? (await connectRedis(config, app))
  const backend = limiterBackend(deps.database.raw, redis)
  const mailer = deps.mailer ?? createMailer(config)
  const ctx: AppContext = {
    config,
    db,
    dialect,
    clock,
    log: app.log,
    hasher: new PasswordHasher(
      deps.argon2 ?? OWASP_ARGON2,
      config.hashConcurrency,
      config.hashQueueLimit,
    ),
    passwordPolicy: new PasswordPolicy({ compositionRules: config.passwordCompositionRules }),
    tokens: new TokenService({
      key: config.jwt,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      ttlSeconds: config.accessTokenTtlSeconds,
      clock,
    }),
    events: new SecurityEvents(db, dialect, clock, app.log),
    cipher: new FieldCipher(config.encryptionKeys),
    limits: new RequestLimits(
      limiterFactory(backend, config.redisKeyPrefix),
      config.rateLimits,
      clock,
      app.log,
    ),
    mailer,
    tasks: new BackgroundTasks(app.log),
  }
  app.addHook('onClose', async () => {
    await ctx.tasks.idle()
    if (backend.kind === 'sqlite') backend.database.close()
    if (deps.mailer === undefined) await mailer.close()
    if (deps.redis === undefined) await redis?.quit().catch(() => undefined)
  })

  registerProblemHandlers(app)
  // Headers first: their hooks must run before authentication can end a request with a 401,
  // so refusals carry the security and CORS headers too.
  headers.apply = await registerSecurityHeaders(app, config)
  // The global ceiling after the headers (a 429 carries them) and before authentication (a
  // flood of bad tokens is refused before any token is verified).
  registerGlobalLimit(app, ctx.limits)
  registerAuthentication(app, ctx)
  await registerDocs(app, config)

  const readiness = [
    () => deps.database.ping(),
    ...(redis === null ? [] : [() => pingRedis(redis)]),
  ]
  await app.register(healthRoutes(readiness))
  await app.register(accountRoutes(ctx))
  await app.register(sessionRoutes(ctx))
  await app.register(documentRoutes(ctx))
  await app.register(adminRoutes(ctx))
  await app.register(passwordResetRoutes(ctx))
  const egress = {
    policy: new EgressPolicy({ allow: config.egressAllow, ports: config.egressPorts }),
    resolver: deps.resolver ?? systemResolver,
  }
  await app.register(fetchRoutes(ctx, egress))
  await app.register(diagnosticsRoutes(ctx, egress))
  await app.register(paymentRoutes(ctx))
  return { app, ctx }
}

function limiterBackend(raw: DatabaseHandle['raw'], redis: Redis | null): LimiterBackend {
  if (redis !== null) return { kind: 'redis', client: redis }
  return raw.kind === 'sqlite' ? openSqliteLimits(raw.database.name) : raw
}

/**
 * The Redis client for REDIS_URL, or null. Commands fail at once while it is disconnected
 * (no offline queue) and time out after a second, so a Redis outage turns into quick 503s
 * instead of requests that hang; the client keeps reconnecting in the background.
 */
async function connectRedis(config: Config, app: FastifyInstance): Promise<Redis | null> {
  if (config.redisUrl === null) return null
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
  })
  redis.on('error', (error: Error) => app.log.warn({ err: error.message }, 'redis unavailable'))
  await redis
    .connect()
    .catch(() => app.log.error('redis not reachable at startup; limits fail closed until it is'))
  return redis
}
