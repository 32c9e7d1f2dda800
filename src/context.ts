/** What every module receives from buildApp: the configured services, nothing global. */
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from './config.js'
import type { Db, Dialect } from './db/schema.js'
import type { Clock } from './security/clock.js'
import type { SecurityEvents } from './security/events.js'
import type { FieldCipher } from './security/field-cipher.js'
import type { PasswordPolicy } from './security/password-policy.js'
import type { PasswordHasher } from './security/passwords.js'
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
}
