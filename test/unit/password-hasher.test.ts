import { describe, expect, it } from 'vitest'
import { AppError } from '../../src/http/errors.js'
import { PasswordHasher } from '../../src/security/passwords.js'

const FAST = { memoryCost: 8192, timeCost: 1, parallelism: 1 }

describe('the password hasher', () => {
  it('does not remember a busy refusal for the dummy hash (unknown users would answer 503 forever)', async () => {
    const hasher = new PasswordHasher(FAST, 1, 0)
    const busy = hasher.hash('Occupies-the-only-slot-1!')
    // The gate is full while this first unknown-user check starts; it may be refused (503)...
    const first = hasher.verifyDummy('whatever').catch((error: unknown) => {
      expect(error).toBeInstanceOf(AppError)
    })
    await Promise.all([busy, first])
    // ...but once the gate is free, unknown-user checks run normally again.
    await expect(hasher.verifyDummy('whatever')).resolves.toBeUndefined()
    await expect(hasher.verifyDummy('whatever-else')).resolves.toBeUndefined()
  })
})
