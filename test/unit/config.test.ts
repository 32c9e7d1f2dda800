import { randomBytes, generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, type Env } from '../../src/config.js'

const dirs: string[] = []
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-config-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const strong = () => randomBytes(32).toString('base64url')
const secretEnv = (): Env => ({
  JWT_SECRET: strong(),
  ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
  WEBHOOK_SECRETS: `whsec_${strong()}`,
})

function refusal(env: Env): ConfigError {
  try {
    loadConfig({ DATA_DIR: tempDir(), ...env })
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error(`accepted ${JSON.stringify(env)}`)
}

describe('configuration', () => {
  it('has the documented defaults and is frozen', () => {
    const config = loadConfig({ DATA_DIR: tempDir() })
    expect(config.env).toBe('development')
    expect(config.host).toBe('127.0.0.1')
    expect(config.port).toBe(8000)
    expect(config.databaseUrl).toBe(`sqlite:${join(config.dataDir, 'rampart.db')}`)
    expect(config.redisUrl).toBeNull()
    expect(config.allowedOrigins).toEqual([])
    expect(config.trustProxy).toEqual([])
    expect(config.accessTokenTtlSeconds).toBe(900)
    expect(config.refreshTokenTtlSeconds).toBe(7 * 86400)
    expect(config.passwordCompositionRules).toBe(true)
    expect(config.bootstrapAdmin).toBeNull()
    expect(Object.isFrozen(config)).toBe(true)
  })

  it.each([
    ['NODE_ENV', 'staging'],
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['DATABASE_URL', 'mysql://localhost/db'],
    ['DATABASE_URL', 'sqlite:'],
    ['DATABASE_URL', 'postgres://db.example:99999/rampart'],
    ['HOST', 'not a host!'],
    ['HOST', 'http://0.0.0.0'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['REDIS_URL', 'not a url'],
    ['JWT_SECRET', 'too-short'],
    ['JWT_SECRET', 'x'.repeat(40)],
    ['JWT_SECRET', 'changeme'.repeat(5)],
    ['ENCRYPTION_KEYS', 'k1:short'],
    ['ENCRYPTION_KEYS', 'no-colon'],
    ['ENCRYPTION_KEYS', `k1:${Buffer.alloc(32).toString('base64')}`],
    ['WEBHOOK_SECRETS', 'short'],
    ['ALLOWED_ORIGINS', '*'],
    ['ALLOWED_ORIGINS', 'null'],
    ['ALLOWED_ORIGINS', 'https://ok.example,*'],
    ['ALLOWED_ORIGINS', 'https://ok.example/path'],
    ['ALLOWED_ORIGINS', 'ftp://files.example'],
    ['TRUST_PROXY', 'not-an-ip'],
    ['TRUST_PROXY', '10.0.0.0/99'],
    ['EGRESS_ALLOW', 'bad host!'],
    ['SMTP_URL', 'http://mail.example'],
    ['PASSWORD_COMPOSITION_RULES', 'maybe'],
    ['ACCESS_TOKEN_TTL_SECONDS', '5'],
    ['REFRESH_TOKEN_TTL_SECONDS', '1e9'],
    ['LOG_LEVEL', 'loud'],
    ['RESET_LINK_BASE', 'javascript:alert(1)'],
    ['PASSWORD_HASH_CONCURRENCY', '0'],
    ['PASSWORD_HASH_QUEUE', 'many'],
    ['UNSAFE_ALLOW_PLAIN_HTTP', 'yes'],
    ['BOOTSTRAP_ADMIN_USERNAME', 'only_the_name'],
  ])('refuses %s=%s with a one-line error naming the variable', (variable, value) => {
    const error = refusal({ ...secretEnv(), [variable]: value })
    expect(error.variable).toBe(variable)
    expect(error.message.startsWith(`${variable}: `)).toBe(true)
    expect(error.message).not.toContain('\n')
  })

  it('refuses a JWT_PRIVATE_KEY_FILE that is missing, not a key, or not Ed25519/P-256', () => {
    const dir = tempDir()
    const garbage = join(dir, 'garbage.pem')
    writeFileSync(garbage, 'not a key at all')
    const rsa = join(dir, 'rsa.pem')
    writeFileSync(
      rsa,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }),
    )
    const p384 = join(dir, 'p384.pem')
    writeFileSync(
      p384,
      generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }),
    )
    const publicOnly = join(dir, 'public.pem')
    writeFileSync(
      publicOnly,
      generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }),
    )
    const rest: Env = { ...secretEnv(), JWT_SECRET: undefined }
    for (const file of ['/nonexistent/key.pem', garbage, rsa, p384, publicOnly]) {
      const error = refusal({ ...rest, JWT_PRIVATE_KEY_FILE: file })
      expect(error.variable, file).toBe('JWT_PRIVATE_KEY_FILE')
      expect(error.message).not.toContain('\n')
    }
    const ed = join(dir, 'ed.pem')
    writeFileSync(
      ed,
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
    )
    const p256 = join(dir, 'p256.pem')
    writeFileSync(
      p256,
      generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }),
    )
    for (const file of [ed, p256])
      expect(loadConfig({ DATA_DIR: dir, ...rest, JWT_PRIVATE_KEY_FILE: file }).jwt.kind).toBe(
        'pem',
      )
  })

  it('accepts IP addresses and host names for HOST', () => {
    for (const host of ['0.0.0.0', '::1', '::', 'localhost', 'api.internal.example']) {
      expect(loadConfig({ DATA_DIR: tempDir(), ...secretEnv(), HOST: host }).host).toBe(host)
    }
  })

  it('refuses both JWT_SECRET and JWT_PRIVATE_KEY_FILE at once', () => {
    const dir = tempDir()
    const file = join(dir, 'key.pem')
    writeFileSync(
      file,
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
    )
    expect(refusal({ ...secretEnv(), JWT_PRIVATE_KEY_FILE: file }).variable).toBe('JWT_SECRET')
  })

  it('names ALLOWED_ORIGINS when a wildcard or null origin is configured, in any mode', () => {
    for (const env of [{}, { NODE_ENV: 'production', TRUST_PROXY: '127.0.0.1' }]) {
      for (const origins of ['*', 'null', 'NULL', 'https://a.example, *']) {
        const error = refusal({ ...secretEnv(), ...env, ALLOWED_ORIGINS: origins })
        expect(error).toBeInstanceOf(ConfigError)
        expect(error.variable).toBe('ALLOWED_ORIGINS')
      }
    }
  })

  it('parses lists, origins and the composition switch', () => {
    const config = loadConfig({
      DATA_DIR: tempDir(),
      ...secretEnv(),
      ALLOWED_ORIGINS: 'https://a.example, http://localhost:3000',
      TRUST_PROXY: '10.0.0.1,192.168.0.0/16',
      PASSWORD_COMPOSITION_RULES: 'false',
      PORT: '0',
    })
    expect(config.allowedOrigins).toEqual(['https://a.example', 'http://localhost:3000'])
    expect(config.trustProxy).toEqual(['10.0.0.1', '192.168.0.0/16'])
    expect(config.passwordCompositionRules).toBe(false)
    expect(config.port).toBe(0)
  })

  it('generates development secrets once into DATA_DIR/secrets.json, mode 0600, and reuses them', () => {
    const dir = tempDir()
    const first = loadConfig({ DATA_DIR: dir })
    const file = join(dir, 'secrets.json')
    expect(existsSync(file)).toBe(true)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>
    expect(Object.keys(stored).sort()).toEqual(['ENCRYPTION_KEYS', 'JWT_SECRET', 'WEBHOOK_SECRETS'])
    expect(Buffer.byteLength(stored.JWT_SECRET ?? '')).toBeGreaterThanOrEqual(32)

    const second = loadConfig({ DATA_DIR: dir })
    expect(second.jwt.material).toBe(first.jwt.material)
    expect(
      second.encryptionKeys[0]?.key.equals(first.encryptionKeys[0]?.key ?? Buffer.alloc(0)),
    ).toBe(true)
    expect(second.webhookSecrets).toEqual(first.webhookSecrets)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(stored)

    const other = loadConfig({ DATA_DIR: tempDir() })
    expect(other.jwt.material).not.toBe(first.jwt.material)
  })

  it('a corrupt secrets.json is a ConfigError, not a crash', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'secrets.json'), '{not json')
    expect(() => loadConfig({ DATA_DIR: dir })).toThrow(ConfigError)
  })

  describe('production', () => {
    const prod = (env: Env) => ({
      NODE_ENV: 'production',
      TRUST_PROXY: '127.0.0.1',
      ...secretEnv(),
      ...env,
    })

    it('accepts strong explicit secrets and writes no secrets file', () => {
      const dir = tempDir()
      const config = loadConfig({ ...prod({}), DATA_DIR: dir })
      expect(config.env).toBe('production')
      expect(existsSync(join(dir, 'secrets.json'))).toBe(false)
    })

    it.each(['JWT_SECRET', 'ENCRYPTION_KEYS', 'WEBHOOK_SECRETS'])(
      'refuses a missing %s and generates nothing',
      (name) => {
        const dir = tempDir()
        let caught: unknown
        try {
          loadConfig({ ...prod({ [name]: '' }), DATA_DIR: dir })
        } catch (error) {
          caught = error
        }
        expect(caught).toBeInstanceOf(ConfigError)
        expect((caught as ConfigError).variable).toBe(name)
        expect(existsSync(join(dir, 'secrets.json'))).toBe(false)
      },
    )

    it('names every missing secret in one line, before any other production check', () => {
      const error = refusal({ NODE_ENV: 'production' })
      expect(error.variable).toBe('JWT_SECRET, ENCRYPTION_KEYS, WEBHOOK_SECRETS')
      expect(error.message).toBe(
        'JWT_SECRET, ENCRYPTION_KEYS, WEBHOOK_SECRETS: are required when NODE_ENV=production',
      )
    })

    it('does not fall back to an existing development secrets file', () => {
      const dir = tempDir()
      loadConfig({ DATA_DIR: dir })
      expect(() =>
        loadConfig({ NODE_ENV: 'production', TRUST_PROXY: '127.0.0.1', DATA_DIR: dir }),
      ).toThrow(ConfigError)
    })

    it.each([
      ['JWT_SECRET', 'short-secret'],
      ['JWT_SECRET', 'changeme'],
      ['JWT_SECRET', 'your-secret-key-goes-here-please-change-it'],
      ['JWT_SECRET', 'a'.repeat(64)],
      ['WEBHOOK_SECRETS', 'password'.repeat(5)],
      ['ENCRYPTION_KEYS', `k1:${Buffer.alloc(32, 7).toString('base64')}`],
      ['JWT_SECRET', 'changemechangemechangemechangeme12'],
      ['WEBHOOK_SECRETS', 'changeme_changeme_changeme_changeme'],
      ['JWT_SECRET', 'Kq8v-my-jwt-secret-for-prod-2026-Zx4'],
    ])('refuses the short or placeholder %s %s', (name, value) => {
      expect(refusal(prod({ [name]: value })).variable).toBe(name)
    })

    it('refuses plain HTTP without a trusted proxy unless explicitly allowed', () => {
      expect(refusal({ ...secretEnv(), NODE_ENV: 'production' }).variable).toBe('TRUST_PROXY')
      expect(
        loadConfig({
          DATA_DIR: tempDir(),
          ...secretEnv(),
          NODE_ENV: 'production',
          UNSAFE_ALLOW_PLAIN_HTTP: 'true',
        }).env,
      ).toBe('production')
    })
  })
})
