import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/db/database.js'
import { openSqliteLimits } from '../../src/security/rate-limit-store.js'

describe('embedded database files', () => {
  it('are created readable by their owner only, write-ahead log included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-files-'))
    try {
      const file = join(dir, 'rampart.db')
      const database = openDatabase(`sqlite:${file}`)
      await sql`create table t (x integer)`.execute(database.db)
      const limits = openSqliteLimits(file)
      const modes = [file, `${file}-wal`, join(dir, 'rampart-limits.db')].map((path) =>
        (statSync(path).mode & 0o777).toString(8),
      )
      expect(modes).toEqual(['600', '600', '600'])
      if (limits.kind === 'sqlite') limits.database.close()
      await database.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
