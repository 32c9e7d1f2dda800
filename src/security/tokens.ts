/**
 * The one token verifier. Access tokens are JWTs (RFC 9068 profile: `typ: at+jwt`) signed with
 * exactly one algorithm: HS256 from a secret, or EdDSA / ES256 from a PEM private key. Refresh
 * tokens are opaque 256-bit random strings; only their SHA-256 is stored.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto'
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose'
import { v4 as uuidv4 } from 'uuid'
import type { JwtKeyConfig } from '../config.js'
import type { Clock } from './clock.js'
import { BoundedLru } from './lru.js'

export interface AccessClaims {
  readonly sub: string
  readonly sid: string
  readonly jti: string
  readonly exp: number
}

export interface TokenOptions {
  readonly key: JwtKeyConfig
  readonly issuer: string
  readonly audience: string
  readonly ttlSeconds: number
  readonly clock: Clock
  /** Verified tokens kept to spare the crypto; an entry never outlives the token's exp. */
  readonly cacheSize?: number
}

const ACCESS_TYP = 'at+jwt'
const ACCESS_TOKEN_TYPE = 'access'

type Alg = 'HS256' | 'EdDSA' | 'ES256'

export class TokenService {
  private readonly alg: Alg
  private readonly signKey: KeyObject | Uint8Array
  private readonly verifyKey: KeyObject | Uint8Array
  private readonly cache: BoundedLru<string, AccessClaims>

  constructor(private readonly options: TokenOptions) {
    const { alg, signKey, verifyKey } = loadKeys(options.key)
    this.alg = alg
    this.signKey = signKey
    this.verifyKey = verifyKey
    this.cache = new BoundedLru(options.cacheSize ?? 10_000)
  }

  get algorithm(): Alg {
    return this.alg
  }

  /** Signs a short-lived access token bound to a session. */
  async issueAccess(
    userId: string,
    sessionId: string,
  ): Promise<{ token: string; expiresIn: number }> {
    const now = Math.floor(this.options.clock.now() / 1000)
    const token = await new SignJWT({ sid: sessionId, token_type: ACCESS_TOKEN_TYPE })
      .setProtectedHeader({ alg: this.alg, typ: ACCESS_TYP })
      .setSubject(userId)
      .setJti(uuidv4())
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + this.options.ttlSeconds)
      .sign(this.signKey)
    return { token, expiresIn: this.options.ttlSeconds }
  }

  /**
   * Verifies an access token: the one algorithm, issuer, audience, typ, token type and expiry.
   * Returns undefined for anything else; the caller must still check the session is live.
   */
  async verifyAccess(token: string): Promise<AccessClaims | undefined> {
    const nowMs = this.options.clock.now()
    const cached = this.cache.get(token)
    if (cached !== undefined) {
      if (cached.exp * 1000 > nowMs) return cached
      this.cache.delete(token)
      return undefined
    }

    const claims = await this.verifyUncached(token, nowMs)
    if (claims !== undefined) this.cache.set(token, claims)
    return claims
  }

  private async verifyUncached(token: string, nowMs: number): Promise<AccessClaims | undefined> {
    if (token.length > 4096) return undefined
    try {
      const { payload } = await jwtVerify(token, this.verifyKey, {
        algorithms: [this.alg],
        issuer: this.options.issuer,
        audience: this.options.audience,
        typ: ACCESS_TYP,
        currentDate: new Date(nowMs),
        requiredClaims: ['sub', 'jti', 'iat', 'exp', 'sid'],
      })
      const { sub, jti, exp, sid, token_type: type } = payload
      if (type !== ACCESS_TOKEN_TYPE || typeof sid !== 'string') return undefined
      if (sub === undefined || jti === undefined || exp === undefined) return undefined
      return { sub, sid, jti, exp }
    } catch (error) {
      if (error instanceof joseErrors.JOSEError || error instanceof TypeError) return undefined
      throw error
    }
  }
}

/** A new opaque refresh (or reset) token: 256 random bits, and the SHA-256 that is stored. */
export function newOpaqueToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url')
  return { token, hash: hashOpaqueToken(token) }
}

export function hashOpaqueToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

function loadKeys(key: JwtKeyConfig): {
  alg: Alg
  signKey: KeyObject | Uint8Array
  verifyKey: KeyObject | Uint8Array
} {
  if (key.kind === 'secret') {
    const secret = new TextEncoder().encode(key.material)
    return { alg: 'HS256', signKey: secret, verifyKey: secret }
  }
  const privateKey = createPrivateKey(key.material)
  const publicKey = createPublicKey(privateKey)
  if (privateKey.asymmetricKeyType === 'ed25519')
    return { alg: 'EdDSA', signKey: privateKey, verifyKey: publicKey }
  if (
    privateKey.asymmetricKeyType === 'ec' &&
    privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1'
  ) {
    return { alg: 'ES256', signKey: privateKey, verifyKey: publicKey }
  }
  throw new Error('JWT_PRIVATE_KEY_FILE must hold an Ed25519 or P-256 private key')
}
