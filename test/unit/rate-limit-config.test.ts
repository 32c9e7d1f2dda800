import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'
import { testSecretEnv } from '../helpers/server.js'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const base = () => ({
  NODE_ENV: 'test',
  DATA_DIR: mkdtempSync(join(tmpdir(), 'rampart-cfg-')),
  ...testSecretEnv(),
})

describe('rate limit configuration', () => {
  it('defaults to the documented limits', () => {
    const config = loadConfig(base())
    expect(config.rateLimits).toEqual({
      resetPerHour: 5,
      resetMailsPerHour: 10,
      signupPerHour: 20,
      refreshPerMinute: 60,
      globalPerMinute: 1200,
      loginFailuresBeforeBlock: 5,
      loginBlockSeconds: 60,
      loginBlockMaxSeconds: 3600,
      loginIpFailuresPerDay: 100,
      loginUserFailures: 20,
      loginUserWindowSeconds: 900,
      loginUserLockSeconds: 900,
    })
    expect(config.redisKeyPrefix).toBe('rampart:')
    expect(config.unsafeResetTokenInQuery).toBe(false)
  })

  it.each([
    ['RATE_LIMIT_RESET_PER_HOUR', '0'],
    ['RATE_LIMIT_LOGIN_FAILURES', 'five'],
    ['RATE_LIMIT_GLOBAL_PER_MINUTE', '-1'],
    ['REDIS_KEY_PREFIX', 'has space'],
    ['UNSAFE_RESET_TOKEN_IN_QUERY', 'yes'],
  ])('refuses %s=%s naming the variable', (name, value) => {
    expect(() => loadConfig({ ...base(), [name]: value })).toThrow(ConfigError)
    expect(() => loadConfig({ ...base(), [name]: value })).toThrow(new RegExp(`^${name}:`))
  })

  it('refuses a maximum login block below the first block', () => {
    const env = {
      ...base(),
      RATE_LIMIT_LOGIN_BLOCK_SECONDS: '600',
      RATE_LIMIT_LOGIN_BLOCK_MAX_SECONDS: '60',
    }
    expect(() => loadConfig(env)).toThrow(/^RATE_LIMIT_LOGIN_BLOCK_MAX_SECONDS:/)
  })
})
