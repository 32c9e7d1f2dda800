/** Process entry: configuration, migrations, the first admin, listen, graceful shutdown. */
import { ensureBootstrapAdmin } from './bootstrap.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { AppError } from './http/errors.js'
import { startServices } from './server.js'

function configOrExit(): Config {
  try {
    return loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`rampart: configuration error: ${error.message}\n`)
      process.exit(1)
    }
    throw error
  }
}

/** A refused bootstrap admin is a configuration mistake: name the variable, as for any other. */
function bootstrapConfigError(error: unknown): unknown {
  const [first, ...rest] = error instanceof AppError ? (error.errors ?? []) : []
  if (first === undefined) return error
  const variable = (field: string) => `BOOTSTRAP_ADMIN_${field.toUpperCase()}`
  const more = rest.map((e) => `; ${variable(e.field)}: ${e.message}`).join('')
  return new ConfigError(variable(first.field), first.message + more)
}

async function main(): Promise<void> {
  const config = configOrExit()
  const { app, ctx } = await startServices(config)
  const admin = await ensureBootstrapAdmin(ctx, config.bootstrapAdmin).catch(
    async (error: unknown) => {
      await app.close()
      throw bootstrapConfigError(error)
    },
  )
  if (admin === 'created')
    app.log.info({ username: config.bootstrapAdmin?.username }, 'bootstrap admin created')

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.log.info({ signal }, 'shutting down')
      void app.close().then(() => process.exit(0))
    })
  }
  await app.listen({ host: config.host, port: config.port })
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`rampart: configuration error: ${error.message}\n`)
    process.exit(1)
  }
  process.stderr.write(
    `rampart: failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  )
  process.exit(1)
})
