/** Opens the database, applies migrations, builds the app: shared by main.ts and the CLI. */
import { buildApp, type AppDeps } from './app.js'
import type { Config } from './config.js'
import { openDatabase } from './db/database.js'
import { migrateToLatest } from './db/migrate.js'

export async function startServices(config: Config, deps: Partial<AppDeps> = {}) {
  const database = deps.database ?? openDatabase(config.databaseUrl)
  await migrateToLatest(database.db, database.dialect)
  const built = await buildApp(config, { ...deps, database })
  built.app.addHook('onClose', () => database.close())
  return { ...built, database }
}
