/**
 * Payment webhook signatures: an HMAC-SHA256 (RFC 2104) over the bytes `"{timestamp}." + body`,
 * keyed with a shared secret, sent hex-encoded in `X-Signature` next to `X-Timestamp`.
 *
 * Several secrets may be configured and a header may carry several comma-separated signatures, so
 * a sender can rotate its secret without a window where deliveries fail. A delivery is authentic
 * when any signature matches any secret. The timestamp is inside the signed bytes, so it cannot be
 * changed without the secret, and a tolerance window bounds how long a captured delivery can be
 * replayed; replays inside the window are caught by the event id (see the payments store).
 *
 * Node's crypto does the work; written here because no maintained library implements this exact
 * scheme, and the scheme is small enough to check line by line.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Clock } from './clock.js'

export const DEFAULT_TOLERANCE_SECONDS = 300

/** Why a delivery was refused: recorded in the security log, never sent to the client. */
export type SignatureFailure =
  | 'missing_headers'
  | 'malformed_timestamp'
  | 'malformed_signature'
  | 'signature_mismatch'
  | 'timestamp_too_old'
  | 'timestamp_in_future'

export type SignatureVerdict =
  | { readonly ok: true; readonly timestamp: number }
  | { readonly ok: false; readonly reason: SignatureFailure }

export interface WebhookSignatureOptions {
  /** Every secret currently accepted; each is used as-is (its UTF-8 bytes) as the HMAC key. */
  readonly secrets: readonly string[]
  readonly clock: Clock
  readonly toleranceSeconds?: number
}

// Unix seconds: digits only, so `1e9`, `+5`, ` 5` or `0x10` never reach Number().
const TIMESTAMP = /^[0-9]{1,12}$/
// A SHA-256 digest is 32 bytes, 64 hex digits; checking the form first means Buffer.from(hex)
// can never silently drop a bad digit and hand timingSafeEqual a shorter buffer.
const HEX_DIGEST = /^[0-9a-fA-F]{64}$/
// A sender rotating secrets needs two or three; more is noise that only costs HMAC work.
const MAX_SIGNATURES = 8

/** Verifies webhook deliveries against the configured secrets and the injected clock. */
export class WebhookSignature {
  private readonly keys: readonly Buffer[]
  private readonly clock: Clock
  private readonly toleranceSeconds: number

  constructor(options: WebhookSignatureOptions) {
    if (options.secrets.length === 0) throw new Error('at least one webhook secret is required')
    const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS
    if (!Number.isInteger(tolerance) || tolerance <= 0) {
      throw new Error('webhook timestamp tolerance must be a positive whole number of seconds')
    }
    this.keys = options.secrets.map((secret) => Buffer.from(secret, 'utf8'))
    this.clock = options.clock
    this.toleranceSeconds = tolerance
  }

  /**
   * Checks the headers against the raw body. The signature is checked before the clock, so a
   * stale-timestamp verdict always means an authentic delivery replayed late, while unsigned
   * noise is reported as a signature mismatch.
   */
  verify(
    timestamp: string | undefined,
    signature: string | undefined,
    body: Buffer,
  ): SignatureVerdict {
    if (timestamp === undefined || signature === undefined) return fail('missing_headers')
    if (!TIMESTAMP.test(timestamp)) return fail('malformed_timestamp')

    const candidates = parseSignatures(signature)
    if (candidates === undefined) return fail('malformed_signature')

    const signed = Buffer.concat([Buffer.from(`${timestamp}.`, 'ascii'), body])
    if (!this.matchesAny(candidates, signed)) return fail('signature_mismatch')

    const seconds = Number(timestamp)
    const age = Math.floor(this.clock.now() / 1000) - seconds
    if (age > this.toleranceSeconds) return fail('timestamp_too_old')
    if (-age > this.toleranceSeconds) return fail('timestamp_in_future')
    return { ok: true, timestamp: seconds }
  }

  // Every pair is compared, without an early exit, so the time taken does not depend on which
  // secret or which signature matched (OWASP Cryptographic Storage: constant-time comparison).
  private matchesAny(candidates: readonly Buffer[], signed: Buffer): boolean {
    let matched = false
    for (const key of this.keys) {
      const expected = createHmac('sha256', key).update(signed).digest()
      for (const candidate of candidates) matched = safeEqual(candidate, expected) || matched
    }
    return matched
  }
}

function fail(reason: SignatureFailure): SignatureVerdict {
  return { ok: false, reason }
}

/** The header's signatures as digests, or undefined when any entry is not a hex SHA-256. */
function parseSignatures(header: string): Buffer[] | undefined {
  const entries = header
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
  if (entries.length === 0 || entries.length > MAX_SIGNATURES) return undefined
  if (!entries.every((entry) => HEX_DIGEST.test(entry))) return undefined
  return entries.map((entry) => Buffer.from(entry, 'hex'))
}

// timingSafeEqual throws on buffers of different lengths; the length is public (always 32 after
// parseSignatures), so checking it first leaks nothing.
function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}
