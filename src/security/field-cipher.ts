/**
 * Field encryption at rest: AES-256-GCM with a random 96-bit nonce per value (NIST SP 800-38D),
 * the key id stored beside the ciphertext so keys can rotate: the first key encrypts, every
 * configured key decrypts. The column name is bound in as associated data, so a value cannot be
 * moved to another column and still decrypt.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { EncryptionKey } from '../config.js'

const VERSION = 'v1'

export class FieldCipher {
  private readonly byKid: ReadonlyMap<string, Buffer>
  private readonly current: EncryptionKey

  constructor(keys: readonly EncryptionKey[]) {
    const first = keys[0]
    if (first === undefined) throw new Error('at least one encryption key is required')
    this.current = first
    this.byKid = new Map(keys.map((k) => [k.kid, k.key]))
  }

  /** Encrypts a value as `v1.kid.nonce.ciphertext.tag` (base64url parts). */
  encrypt(plaintext: string, field: string): string {
    const nonce = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.current.key, nonce)
    cipher.setAAD(Buffer.from(field))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    const parts = [nonce, body, cipher.getAuthTag()].map((b) => b.toString('base64url'))
    return [VERSION, this.current.kid, ...parts].join('.')
  }

  /** Decrypts a value made by encrypt; throws when the key is unknown or the value was altered. */
  decrypt(stored: string, field: string): string {
    const [version, kid, nonce, body, tag] = stored.split('.')
    const key = kid === undefined ? undefined : this.byKid.get(kid)
    if (
      version !== VERSION ||
      key === undefined ||
      nonce === undefined ||
      body === undefined ||
      tag === undefined
    ) {
      throw new Error('undecryptable field value')
    }
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'base64url'))
    decipher.setAAD(Buffer.from(field))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([
      decipher.update(Buffer.from(body, 'base64url')),
      decipher.final(),
    ]).toString('utf8')
  }

  /** True when the value was encrypted under a key other than the current one. */
  isStale(stored: string): boolean {
    return stored.split('.')[1] !== this.current.kid
  }
}
