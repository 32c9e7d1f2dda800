import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ERRORS, problemType, type ErrorCode } from '../../src/http/errors.js'

const readme = readFileSync('README.md', 'utf8')

describe('README stays in step with the code', () => {
  it('lists every error code with its status and problem type', () => {
    const missing = (Object.keys(ERRORS) as ErrorCode[]).filter(
      (code) =>
        !readme.includes(`| \`${code}\` | ${ERRORS[code].status} | \`${problemType(code)}\` |`),
    )
    expect(missing).toEqual([])
  })

  it('documents every environment variable the configuration reads', () => {
    const source = readFileSync('src/config.ts', 'utf8')
    const variables = new Set(
      [...source.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|HOST|PORT)'/g)].map((m) => m[1]),
    )
    const undocumented = [...variables].filter(
      (name) => name !== undefined && !readme.includes(`\`${name}\``),
    )
    expect(variables.size).toBeGreaterThan(30)
    expect(undocumented).toEqual([])
  })
})
