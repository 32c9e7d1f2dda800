import { createHmac, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { WebhookSignature } from '../../src/security/webhook-signature.js'

const SECRET_A = randomBytes(32).toString('base64url')
const SECRET_B = randomBytes(32).toString('base64url')
const NOW_MS = 1_800_000_000_000
const NOW = String(NOW_MS / 1000)
const clock = { now: () => NOW_MS }
const body = Buffer.from('{"id":"evt_1","type":"payment.succeeded"}')

function sign(secret: string, timestamp: string, bytes: Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(bytes).digest('hex')
}

const verifier = new WebhookSignature({ secrets: [SECRET_A, SECRET_B], clock })

describe('webhook signature verification', () => {
  it('accepts a signature by any configured secret', () => {
    expect(verifier.verify(NOW, sign(SECRET_A, NOW, body), body)).toEqual({
      ok: true,
      timestamp: Number(NOW),
    })
    expect(verifier.verify(NOW, sign(SECRET_B, NOW, body), body).ok).toBe(true)
    expect(verifier.verify(NOW, sign(SECRET_B, NOW, body).toUpperCase(), body).ok).toBe(true)
  })

  it('accepts a list when any entry matches, in any position', () => {
    const wrong = sign('another-secret-of-sufficient-length', NOW, body)
    expect(verifier.verify(NOW, `${wrong},${sign(SECRET_A, NOW, body)}`, body).ok).toBe(true)
    expect(verifier.verify(NOW, ` ${sign(SECRET_B, NOW, body)} , ${wrong}`, body).ok).toBe(true)
    expect(verifier.verify(NOW, `${wrong},${wrong}`, body)).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    })
  })

  it('binds the signature to the exact bytes and the timestamp', () => {
    const signature = sign(SECRET_A, NOW, body)
    const changed = Buffer.from(body.toString().replace('evt_1', 'evt_2'))
    expect(verifier.verify(NOW, signature, changed)).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    })
    expect(verifier.verify(String(Number(NOW) - 1), signature, body)).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    })
    expect(verifier.verify(`0${NOW}`, signature, body)).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    })
  })

  it('reports missing headers before anything else', () => {
    expect(verifier.verify(undefined, sign(SECRET_A, NOW, body), body)).toEqual({
      ok: false,
      reason: 'missing_headers',
    })
    expect(verifier.verify(NOW, undefined, body)).toEqual({ ok: false, reason: 'missing_headers' })
  })

  it('refuses timestamps that are not plain digits', () => {
    for (const timestamp of [
      '',
      ' 1',
      '1.0',
      '1e9',
      '-1',
      '+1',
      '0x1f',
      'NaN',
      '1234567890123',
      '\u0661\u0662',
    ]) {
      expect(verifier.verify(timestamp, sign(SECRET_A, timestamp, body), body)).toEqual({
        ok: false,
        reason: 'malformed_timestamp',
      })
    }
  })

  it('refuses malformed hex without throwing', () => {
    const good = sign(SECRET_A, NOW, body)
    const malformed = [
      '',
      ',',
      'g'.repeat(64),
      good.slice(0, 63),
      good + 'a',
      good.slice(0, 62) + '\u00e9',
      'v1=' + good,
      `${good},zz`,
      Array(9).fill(good).join(','),
    ]
    for (const signature of malformed) {
      expect(() => verifier.verify(NOW, signature, body)).not.toThrow()
      expect(verifier.verify(NOW, signature, body)).toEqual({
        ok: false,
        reason: 'malformed_signature',
      })
    }
  })

  it('accepts up to 300 s of skew either way and refuses beyond', () => {
    const at = (offset: number) => {
      const timestamp = String(Number(NOW) + offset)
      return verifier.verify(timestamp, sign(SECRET_A, timestamp, body), body)
    }
    expect(at(-300).ok).toBe(true)
    expect(at(300).ok).toBe(true)
    expect(at(-301)).toEqual({ ok: false, reason: 'timestamp_too_old' })
    expect(at(301)).toEqual({ ok: false, reason: 'timestamp_in_future' })
  })

  it('reports an unsigned stale delivery as a bad signature, not as a late replay', () => {
    const old = String(Number(NOW) - 3600)
    expect(verifier.verify(old, sign('some-other-secret-value-xyz', old, body), body)).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    })
  })

  it('refuses to start without a secret or with a meaningless tolerance', () => {
    expect(() => new WebhookSignature({ secrets: [], clock })).toThrow()
    expect(
      () => new WebhookSignature({ secrets: [SECRET_A], clock, toleranceSeconds: 0 }),
    ).toThrow()
    expect(
      () => new WebhookSignature({ secrets: [SECRET_A], clock, toleranceSeconds: 1.5 }),
    ).toThrow()
  })
})
