/** Applies the numbered migrations in src/db/migrations, the same set on SQLite and PostgreSQL. */
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely'
import type { Db, Dialect } from './schema.js'
import * as foundation from './migrations/001-foundation.js'
import * as passwordReset from './migrations/002-password-reset.js'
import * as payments from './migrations/003-payments.js'

interface Step {
  up(db: Kysely<unknown>, dialect: Dialect): Promise<void>
}

const STEPS: Record<string, Step> = {
  '001-foundation': foundation,
  '002-password-reset': passwordReset,
  '003-payments': payments,
}

class InCodeProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}

  getMigrations(): Promise<Record<string, Migration>> {
    const entries = Object.entries(STEPS).map(([name, step]) => {
      const migration: Migration = { up: (db) => step.up(db, this.dialect) }
      return [name, migration] as const
    })
    return Promise.resolve(Object.fromEntries(entries))
  }
}

/** Runs every pending migration; throws with the failing step's name when one fails. */
export async function migrateToLatest(db: Db, dialect: Dialect): Promise<string[]> {
  const schema = dialect === 'postgres' ? await currentSchema(db) : undefined
  const migrator = new Migrator({
    db,
    provider: new InCodeProvider(dialect),
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  })
  const { error, results } = await migrator.migrateToLatest()
  const failed = results?.find((r) => r.status === 'Error')
  if (error !== undefined) {
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed`, { cause: error })
  }
  return (results ?? []).map((r) => r.migrationName)
}

// Unless told a schema, Kysely's migrator looks for its bookkeeping tables in every schema of the
// database, so one schema's tables hide another's missing ones. Naming the schema in use keeps
// several schemas in one PostgreSQL database (one per deployment or test run) independent.
async function currentSchema(db: Db): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(
    db,
  )
  const schema = rows[0]?.schema
  if (schema === undefined || schema === null)
    throw new Error('no schema on the search_path exists')
  return schema
}
