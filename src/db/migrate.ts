/** Applies the numbered migrations in src/db/migrations, the same set on SQLite and PostgreSQL. */
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely'
import type { Db, Dialect } from './schema.js'
import * as foundation from './migrations/001-foundation.js'

interface Step {
  up(db: Kysely<unknown>, dialect: Dialect): Promise<void>
}

const STEPS: Record<string, Step> = {
  '001-foundation': foundation,
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
  // Kysely looks for its bookkeeping tables in every schema unless told which one; on a shared
  // PostgreSQL database another schema's tables would be taken for ours.
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

async function currentSchema(db: Db): Promise<string> {
  const result = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  const schema = result.rows[0]?.schema
  if (schema === undefined) throw new Error('the database has no current schema')
  return schema
}
