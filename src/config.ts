/**
 * Configuration: the environment is read here and nowhere else, checked once at startup and
 * frozen. A bad value throws a ConfigError whose message is one line naming the variable.
 */
import { createPrivateKey, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import ipaddr from 'ipaddr.js'
import { DevSecrets } from './dev-secrets.js'
import { DEFAULT_EGRESS_PORTS } from './security/egress.js'

export type Env = Readonly<Record<string, string | undefined>>

export interface JwtKeyConfig {
  readonly kind: 'secret' | 'pem'
  /** HS256 secret bytes, or the PEM text of an Ed25519 / P-256 private key. */
  readonly material: string
}

export interface EncryptionKey {
  readonly kid: string
  readonly key: Buffer
}

export interface BootstrapAdmin {
  readonly username: string
  readonly email: string
  readonly password: string
}

export interface Config {
  readonly env: 'development' | 'production' | 'test'
  readonly host: string
  readonly port: number
  readonly dataDir: string
  readonly databaseUrl: string
  readonly redisUrl: string | null
  readonly jwt: JwtKeyConfig
  readonly jwtIssuer: string
  readonly jwtAudience: string
  readonly accessTokenTtlSeconds: number
  readonly refreshTokenTtlSeconds: number
  readonly encryptionKeys: readonly EncryptionKey[]
  readonly webhookSecrets: readonly string[]
  readonly allowedOrigins: readonly string[]
  readonly trustProxy: readonly string[]
  readonly egressAllow: readonly string[]
  readonly egressPorts: readonly number[]
  readonly fetchMaxBytes: number
  readonly fetchTimeoutMs: number
  readonly fetchConnectTimeoutMs: number
  readonly pingPath: string
  readonly pingTimeoutSeconds: number
  readonly smtpUrl: string | null
  readonly mailFrom: string
  readonly resetLinkBase: string
  readonly bootstrapAdmin: BootstrapAdmin | null
  readonly passwordCompositionRules: boolean
  readonly hashConcurrency: number
  readonly hashQueueLimit: number
  readonly logLevel: string
  readonly redisKeyPrefix: string
  readonly unsafeResetTokenInQuery: boolean
  readonly rateLimits: RateLimitConfig
}

/** Every abuse limit, read once at startup (see docs/abuse-resistance.md). */
export interface RateLimitConfig {
  readonly resetPerHour: number
  readonly resetMailsPerHour: number
  readonly signupPerHour: number
  readonly refreshPerMinute: number
  readonly globalPerMinute: number
  readonly loginFailuresBeforeBlock: number
  readonly loginBlockSeconds: number
  readonly loginBlockMaxSeconds: number
  readonly loginIpFailuresPerDay: number
  readonly loginUserFailures: number
  readonly loginUserWindowSeconds: number
  readonly loginUserLockSeconds: number
}

/** A configuration mistake: the message names the variable and says what is wrong. */
export class ConfigError extends Error {
  override name = 'ConfigError'
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`)
  }
}

const PLACEHOLDERS = /^(x+|0+|test.*)$/i
// Words that mark a value somebody typed in instead of generating: refused anywhere in a secret.
const PLACEHOLDER_WORDS =
  /change[-_ ]?me|replace[-_ ]?me|placeholder|password|secret|example|dummy|default/i
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Parses and validates the environment into a frozen Config; generates dev secrets on disk. */
export function loadConfig(env: Env = process.env): Config {
  const mode = oneOf(env, 'NODE_ENV', ['development', 'production', 'test'], 'development')
  const production = mode === 'production'
  const dataDir = resolve(str(env, 'DATA_DIR') ?? './data')
  const secrets = new DevSecrets(dataDir, production)
  if (production) requireProductionSecrets(env)

  const allowedOrigins = list(env, 'ALLOWED_ORIGINS').map((o) => origin(o))
  const trustProxy = list(env, 'TRUST_PROXY').map((p) => addressOrCidr('TRUST_PROXY', p))
  const plainHttp = bool(env, 'UNSAFE_ALLOW_PLAIN_HTTP', false)
  if (production && trustProxy.length === 0 && !plainHttp) {
    throw new ConfigError(
      'TRUST_PROXY',
      'production needs a trusted TLS-terminating proxy (or UNSAFE_ALLOW_PLAIN_HTTP=true)',
    )
  }

  const config: Config = {
    env: mode,
    host: host(env),
    port: int(env, 'PORT', 8000, 0, 65535),
    dataDir,
    databaseUrl: databaseUrl(env, dataDir),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    jwt: jwtKey(env, secrets),
    jwtIssuer: str(env, 'JWT_ISSUER') ?? 'rampart',
    jwtAudience: str(env, 'JWT_AUDIENCE') ?? 'rampart-api',
    accessTokenTtlSeconds: int(env, 'ACCESS_TOKEN_TTL_SECONDS', 900, 60, 3600),
    refreshTokenTtlSeconds: int(env, 'REFRESH_TOKEN_TTL_SECONDS', 7 * 86400, 300, 90 * 86400),
    encryptionKeys: encryptionKeys(env, secrets),
    webhookSecrets: webhookSecrets(env, secrets),
    allowedOrigins,
    trustProxy,
    egressAllow: list(env, 'EGRESS_ALLOW').map((e) => egressEntry(e)),
    egressPorts: egressPorts(env),
    fetchMaxBytes: int(env, 'FETCH_MAX_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    fetchTimeoutMs: int(env, 'FETCH_TIMEOUT_MS', 10_000, 100, 120_000),
    fetchConnectTimeoutMs: int(env, 'FETCH_CONNECT_TIMEOUT_MS', 3_000, 100, 60_000),
    pingPath: str(env, 'PING_PATH') ?? 'ping',
    pingTimeoutSeconds: int(env, 'PING_TIMEOUT_SECONDS', 2, 1, 10),
    smtpUrl: url(env, 'SMTP_URL', ['smtp:', 'smtps:']),
    mailFrom: str(env, 'MAIL_FROM') ?? 'Rampart <no-reply@localhost>',
    resetLinkBase:
      url(env, 'RESET_LINK_BASE', ['http:', 'https:']) ?? 'http://localhost:8000/reset',
    bootstrapAdmin: bootstrapAdmin(env),
    passwordCompositionRules: bool(env, 'PASSWORD_COMPOSITION_RULES', true),
    hashConcurrency: int(env, 'PASSWORD_HASH_CONCURRENCY', 2, 1, 64),
    hashQueueLimit: int(env, 'PASSWORD_HASH_QUEUE', 64, 0, 10_000),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, mode === 'test' ? 'silent' : 'info'),
    redisKeyPrefix: keyPrefix(env),
    unsafeResetTokenInQuery: bool(env, 'UNSAFE_RESET_TOKEN_IN_QUERY', false),
    rateLimits: rateLimits(env),
  }
  return Object.freeze(config)
}

function rateLimits(env: Env): RateLimitConfig {
  const blockSeconds = int(env, 'RATE_LIMIT_LOGIN_BLOCK_SECONDS', 60, 1, 86_400)
  const blockMax = int(env, 'RATE_LIMIT_LOGIN_BLOCK_MAX_SECONDS', 3600, 1, 86_400)
  if (blockMax < blockSeconds) {
    throw new ConfigError(
      'RATE_LIMIT_LOGIN_BLOCK_MAX_SECONDS',
      'must not be below RATE_LIMIT_LOGIN_BLOCK_SECONDS',
    )
  }
  return {
    resetPerHour: int(env, 'RATE_LIMIT_RESET_PER_HOUR', 5, 1, 1000),
    resetMailsPerHour: int(env, 'RATE_LIMIT_RESET_MAILS_PER_HOUR', 10, 1, 1000),
    signupPerHour: int(env, 'RATE_LIMIT_SIGNUP_PER_HOUR', 20, 1, 1_000_000),
    refreshPerMinute: int(env, 'RATE_LIMIT_REFRESH_PER_MINUTE', 60, 1, 1_000_000),
    globalPerMinute: int(env, 'RATE_LIMIT_GLOBAL_PER_MINUTE', 1200, 1, 1_000_000_000),
    loginFailuresBeforeBlock: int(env, 'RATE_LIMIT_LOGIN_FAILURES', 5, 1, 100),
    loginBlockSeconds: blockSeconds,
    loginBlockMaxSeconds: blockMax,
    loginIpFailuresPerDay: int(env, 'RATE_LIMIT_LOGIN_IP_FAILURES_PER_DAY', 100, 1, 1_000_000),
    loginUserFailures: int(env, 'RATE_LIMIT_LOGIN_USER_FAILURES', 20, 1, 10_000),
    loginUserWindowSeconds: int(env, 'RATE_LIMIT_LOGIN_USER_WINDOW_SECONDS', 900, 1, 86_400),
    loginUserLockSeconds: int(env, 'RATE_LIMIT_LOGIN_USER_LOCK_SECONDS', 900, 1, 86_400),
  }
}

function keyPrefix(env: Env): string {
  const raw = str(env, 'REDIS_KEY_PREFIX') ?? 'rampart:'
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(raw)) {
    throw new ConfigError('REDIS_KEY_PREFIX', 'expected 1..64 characters of A-Z a-z 0-9 : _ . -')
  }
  return raw
}

function str(env: Env, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

function list(env: Env, name: string): string[] {
  return (str(env, name) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name)
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`)
  const value = Number(raw)
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}`)
  return value
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name)
  if (raw === undefined) return fallback
  if (raw === 'true' || raw === '1') return true
  if (raw === 'false' || raw === '0') return false
  throw new ConfigError(name, `expected true or false, got "${raw}"`)
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name)
  if (raw === undefined) return fallback
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got "${raw}"`)
  }
  return raw as T
}

function url(env: Env, name: string, protocols: readonly string[]): string | null {
  const raw = str(env, name)
  if (raw === undefined) return null
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError(name, 'is not a valid URL')
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `scheme must be one of ${protocols.join(', ')}`)
  }
  return raw
}

function databaseUrl(env: Env, dataDir: string): string {
  const raw = str(env, 'DATABASE_URL')
  if (raw === undefined) return `sqlite:${join(dataDir, 'rampart.db')}`
  if (raw.startsWith('sqlite:')) {
    const path = raw.slice('sqlite:'.length)
    if (path === '') throw new ConfigError('DATABASE_URL', 'sqlite: needs a file path')
    return path === ':memory:' || isAbsolute(path) ? raw : `sqlite:${resolve(path)}`
  }
  if (/^postgres(ql)?:\/\//.test(raw))
    return url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']) ?? raw
  throw new ConfigError('DATABASE_URL', 'expected sqlite:PATH or postgres://...')
}

function origin(raw: string): string {
  if (raw === '*' || raw.toLowerCase() === 'null') {
    throw new ConfigError('ALLOWED_ORIGINS', `"${raw}" is refused: list each origin explicitly`)
  }
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError('ALLOWED_ORIGINS', `"${raw}" is not an origin like https://app.example`)
  }
  if (!['http:', 'https:'].includes(parsed.protocol) || parsed.origin !== raw.replace(/\/$/, '')) {
    throw new ConfigError('ALLOWED_ORIGINS', `"${raw}" is not an origin like https://app.example`)
  }
  return parsed.origin
}

function addressOrCidr(name: string, raw: string): string {
  try {
    if (raw.includes('/')) ipaddr.parseCIDR(raw)
    else ipaddr.parse(raw)
    return raw
  } catch {
    throw new ConfigError(name, `"${raw}" is not an IP address or CIDR`)
  }
}

const HOSTNAME =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i

function host(env: Env): string {
  const raw = str(env, 'HOST') ?? '127.0.0.1'
  if (!ipaddr.isValid(raw) && !HOSTNAME.test(raw)) {
    throw new ConfigError('HOST', `"${raw}" is not an IP address or host name`)
  }
  return raw
}

function egressEntry(raw: string): string {
  if (ipaddr.isValid(raw) || raw.includes('/')) return addressOrCidr('EGRESS_ALLOW', raw)
  if (!HOSTNAME.test(raw)) {
    throw new ConfigError('EGRESS_ALLOW', `"${raw}" is not a hostname, IP address or CIDR`)
  }
  return raw.toLowerCase()
}

function egressPorts(env: Env): number[] {
  const raw = list(env, 'EGRESS_PORTS')
  if (raw.length === 0) return [...DEFAULT_EGRESS_PORTS]
  return raw.map((entry) => {
    const port = /^\d{1,5}$/.test(entry) ? Number(entry) : NaN
    if (!(port >= 1 && port <= 65535)) {
      throw new ConfigError('EGRESS_PORTS', `"${entry}" is not a port`)
    }
    return port
  })
}

/** Names every missing production secret in one line, so one restart shows all of them. */
function requireProductionSecrets(env: Env): void {
  const missing = [
    str(env, 'JWT_SECRET') === undefined && str(env, 'JWT_PRIVATE_KEY_FILE') === undefined
      ? 'JWT_SECRET'
      : '',
    str(env, 'ENCRYPTION_KEYS') === undefined ? 'ENCRYPTION_KEYS' : '',
    str(env, 'WEBHOOK_SECRETS') === undefined ? 'WEBHOOK_SECRETS' : '',
  ].filter((name) => name !== '')
  if (missing.length > 0) {
    throw new ConfigError(
      missing.join(', '),
      `${missing.length === 1 ? 'is' : 'are'} required when NODE_ENV=production`,
    )
  }
}

function strongSecret(name: string, value: string, minBytes: number): string {
  if (Buffer.byteLength(value) < minBytes) {
    throw new ConfigError(name, `must be at least ${minBytes} bytes`)
  }
  if (PLACEHOLDERS.test(value) || PLACEHOLDER_WORDS.test(value) || new Set(value).size < 8) {
    throw new ConfigError(name, 'looks like a placeholder; generate a random value')
  }
  return value
}

/** Reads the signing key file; it must hold an Ed25519 or P-256 private key, checked here. */
function signingKeyPem(file: string): string {
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch {
    throw new ConfigError('JWT_PRIVATE_KEY_FILE', 'cannot be read')
  }
  let key: ReturnType<typeof createPrivateKey>
  try {
    key = createPrivateKey(pem)
  } catch {
    throw new ConfigError('JWT_PRIVATE_KEY_FILE', 'does not hold a PEM private key')
  }
  const p256 =
    key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
  if (key.asymmetricKeyType !== 'ed25519' && !p256) {
    throw new ConfigError('JWT_PRIVATE_KEY_FILE', 'must hold an Ed25519 or P-256 private key')
  }
  return pem
}

function jwtKey(env: Env, secrets: DevSecrets): JwtKeyConfig {
  const file = str(env, 'JWT_PRIVATE_KEY_FILE')
  const secret = str(env, 'JWT_SECRET')
  if (file !== undefined && secret !== undefined) {
    throw new ConfigError('JWT_SECRET', 'set either JWT_SECRET or JWT_PRIVATE_KEY_FILE, not both')
  }
  if (file !== undefined) return { kind: 'pem', material: signingKeyPem(file) }
  const value = secret ?? secrets.get('JWT_SECRET', () => randomBytes(48).toString('base64url'))
  return { kind: 'secret', material: strongSecret('JWT_SECRET', value, 32) }
}

function encryptionKeys(env: Env, secrets: DevSecrets): EncryptionKey[] {
  const raw =
    str(env, 'ENCRYPTION_KEYS') ??
    secrets.get('ENCRYPTION_KEYS', () => `k1:${randomBytes(32).toString('base64')}`)
  const keys = raw.split(',').map((entry) => {
    const match = /^([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/=_-]+)$/.exec(entry.trim())
    const key = match?.[2] === undefined ? undefined : Buffer.from(match[2], 'base64')
    if (match?.[1] === undefined || key?.length !== 32) {
      throw new ConfigError('ENCRYPTION_KEYS', 'expected kid:base64key entries with 32-byte keys')
    }
    if (new Set(key).size < 8) throw new ConfigError('ENCRYPTION_KEYS', 'a key is not random')
    return { kid: match[1], key }
  })
  if (new Set(keys.map((k) => k.kid)).size !== keys.length) {
    throw new ConfigError('ENCRYPTION_KEYS', 'key ids must be unique')
  }
  return keys
}

function webhookSecrets(env: Env, secrets: DevSecrets): string[] {
  const raw =
    str(env, 'WEBHOOK_SECRETS') ??
    secrets.get('WEBHOOK_SECRETS', () => `whsec_${randomBytes(32).toString('base64url')}`)
  return raw.split(',').map((s) => strongSecret('WEBHOOK_SECRETS', s.trim(), 32))
}

function bootstrapAdmin(env: Env): BootstrapAdmin | null {
  const username = str(env, 'BOOTSTRAP_ADMIN_USERNAME')
  const email = str(env, 'BOOTSTRAP_ADMIN_EMAIL')
  const password = env.BOOTSTRAP_ADMIN_PASSWORD
  const given = [username, email, password].filter((v) => v !== undefined && v !== '').length
  if (given === 0) return null
  if (username === undefined || email === undefined || password === undefined || given !== 3) {
    throw new ConfigError(
      'BOOTSTRAP_ADMIN_USERNAME',
      'set BOOTSTRAP_ADMIN_USERNAME, BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD together',
    )
  }
  return { username, email, password }
}
