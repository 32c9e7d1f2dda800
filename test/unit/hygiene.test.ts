import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : []
  })
}

const files = [...sourceFiles('src'), ...sourceFiles('test')]

describe('source hygiene', () => {
  it('keeps every source file ASCII-only (no homoglyphs or invisible characters)', () => {
    const offenders = files.filter((file) =>
      [...readFileSync(file)].some(
        (byte) => byte > 0x7e || (byte < 0x20 && byte !== 0x0a && byte !== 0x09),
      ),
    )
    expect(offenders).toEqual([])
  })

  it('reads process.env only in src/config.ts', () => {
    const readers = sourceFiles('src').filter((file) =>
      readFileSync(file, 'utf8').includes('process.env'),
    )
    expect(readers).toEqual(['src/config.ts'])
  })
})
