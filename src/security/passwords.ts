/**
 * The one password hasher. Argon2id with OWASP Password Storage Cheat Sheet parameters
 * (m=19 MiB, t=2, p=1) through the native `argon2` binding, which hashes on the libuv threadpool.
 * Legacy bcrypt hashes still verify and are flagged for rehashing, as are Argon2 hashes made
 * with weaker parameters. Concurrent hashing is capped so a login flood cannot starve the pool.
 */
import argon2 from 'argon2'
import bcrypt from 'bcrypt'
import { AppError } from '../http/errors.js'
import { BoundedSemaphore } from './semaphore.js'

export interface Argon2Params {
  readonly memoryCost: number
  readonly timeCost: number
  readonly parallelism: number
}

export const OWASP_ARGON2: Argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 }

export interface VerifyResult {
  readonly ok: boolean
  readonly needsRehash: boolean
}

const BCRYPT_PREFIX = /^\$2[aby]\$\d\d\$/
const ARGON2ID_PREFIX = '$argon2id$'

export class PasswordHasher {
  private readonly gate: BoundedSemaphore
  private dummyHash: Promise<string> | undefined

  constructor(
    private readonly params: Argon2Params = OWASP_ARGON2,
    concurrency = 2,
    queueLimit = 64,
  ) {
    this.gate = new BoundedSemaphore(concurrency, queueLimit)
    // Made at startup, so the first unknown-user login costs what every later one does.
    this.dummy().catch(() => undefined)
  }

  /** Hashes a new password with the current Argon2id parameters. */
  hash(password: string): Promise<string> {
    return this.gated(() => argon2.hash(password, { type: argon2.argon2id, ...this.params }))
  }

  /** Verifies against an Argon2 or legacy bcrypt hash; never throws on a malformed hash. */
  verify(stored: string, password: string): Promise<VerifyResult> {
    return this.gated(async () => {
      if (BCRYPT_PREFIX.test(stored)) {
        return { ok: await bcrypt.compare(password, stored), needsRehash: true }
      }
      const ok = await argon2.verify(stored, password).catch(() => false)
      // needsRehash compares the cost parameters only, so an argon2i or argon2d hash with the
      // right costs would stay as it is; the variant is checked here too.
      const current = stored.startsWith(ARGON2ID_PREFIX) && !argon2.needsRehash(stored, this.params)
      return { ok, needsRehash: ok && !current }
    })
  }

  /**
   * Spends the same hashing time as a real check, for logins of unknown or inactive users,
   * so response time does not reveal which usernames exist (OWASP Authentication Cheat Sheet).
   */
  async verifyDummy(password: string): Promise<void> {
    await this.verify(await this.dummy(), password)
  }

  /**
   * The dummy hash, made once outside the concurrency gate: a refusal from a full gate must not
   * be remembered, or every later unknown-user login would answer 503 and reveal itself.
   */
  private dummy(): Promise<string> {
    this.dummyHash ??= argon2
      .hash('rampart-dummy-password-for-timing', { type: argon2.argon2id, ...this.params })
      .catch((error: unknown) => {
        this.dummyHash = undefined
        throw error
      })
    return this.dummyHash
  }

  private async gated<T>(task: () => Promise<T>): Promise<T> {
    const result = await this.gate.run(task)
    if (result === undefined) {
      throw new AppError('RAMPART_PASSWORD_BUSY', undefined, undefined, { 'retry-after': '1' })
    }
    return result.value
  }
}
