/** What every module receives from buildApp: the configured services, nothing global. */
import type { FastifyBaseLogger } from 'fastify'
import type { BackgroundTasks } from './background-tasks.js'
import type { Config } from './config.js'
import type { Db, Dialect } from './db/schema.js'
import type { Mailer } from './mail/mailer.js'
import type { Clock } from './security/clock.js'
import type { SecurityEvents } from './security/events.js'
import type { FieldCipher } from './security/field-cipher.js'
import type { PasswordPolicy } from './security/password-policy.js'
import type { PasswordHasher } from './security/passwords.js'
import type { RequestLimits } from './security/request-limits.js'
import type { TokenService } from './security/tokens.js'

export interface AppContext {
  readonly config: Config
  readonly db: Db
  readonly dialect: Dialect
  readonly clock: Clock
  readonly log: FastifyBaseLogger
  readonly hasher: PasswordHasher
  readonly passwordPolicy: PasswordPolicy
  readonly tokens: TokenService
  readonly events: SecurityEvents
  readonly cipher: FieldCipher
  readonly limits: RequestLimits
  readonly mailer: Mailer
  /** Work done after the response, such as reset mail. */
  readonly tasks: BackgroundTasks
}
