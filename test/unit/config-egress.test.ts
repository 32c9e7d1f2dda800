import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'

const secrets = {
  JWT_SECRET: randomBytes(32).toString('base64url'),
  ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
  WEBHOOK_SECRETS: `whsec_${randomBytes(32).toString('base64url')}`,
}
const dataDir = mkdtempSync(join(tmpdir(), 'rampart-config-'))
const load = (env: Record<string, string>) =>
  loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, ...secrets, ...env })

describe('egress settings', () => {
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  it('default to the four web ports, a 1 MiB cap and bounded timeouts', () => {
    const config = load({})
    expect(config.egressPorts).toEqual([80, 443, 8080, 8443])
    expect(config.fetchMaxBytes).toBe(1024 * 1024)
    expect(config.fetchTimeoutMs).toBe(10_000)
    expect(config.fetchConnectTimeoutMs).toBe(3_000)
    expect(config.pingPath).toBe('ping')
    expect(config.pingTimeoutSeconds).toBe(2)
  })

  it('read operator values', () => {
    const config = load({
      EGRESS_PORTS: '443, 8443',
      FETCH_MAX_BYTES: '65536',
      EGRESS_ALLOW: '10.0.0.0/8,Intranet.example',
    })
    expect(config.egressPorts).toEqual([443, 8443])
    expect(config.fetchMaxBytes).toBe(65536)
    expect(config.egressAllow).toEqual(['10.0.0.0/8', 'intranet.example'])
  })

  it.each([
    ['EGRESS_PORTS', '0'],
    ['EGRESS_PORTS', '65536'],
    ['EGRESS_PORTS', '80,http'],
    ['FETCH_MAX_BYTES', '10'],
    ['FETCH_MAX_BYTES', '1e6'],
    ['FETCH_TIMEOUT_MS', '0'],
    ['FETCH_CONNECT_TIMEOUT_MS', '600000'],
    ['PING_TIMEOUT_SECONDS', '60'],
    ['EGRESS_ALLOW', 'not a host!'],
  ])('%s=%s stops startup naming the variable', (name, value) => {
    expect(() => load({ [name]: value })).toThrow(ConfigError)
    expect(() => load({ [name]: value })).toThrow(new RegExp(`^${name}: `))
  })
})
