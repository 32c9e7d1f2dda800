#!/usr/bin/env node
/**
 * The `rampart` command: create-admin, migrate, rotate-keys, verify-events. Passwords are read
 * from standard input, never from arguments (argv is visible to every user of the machine).
 */
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig, type Config } from './config.js'
import { openDatabase } from './db/database.js'
import { migrateToLatest } from './db/migrate.js'
import { AppError } from './http/errors.js'
import { createAccount } from './modules/accounts/service.js'
import { startServices } from './server.js'

const USAGE = `usage: rampart <command>
  create-admin --username NAME --email ADDR   (password on standard input)
  migrate                                     apply database migrations
  rotate-keys                                 re-encrypt fields under the first ENCRYPTION_KEYS key
  verify-events                               check the tamper-evident security event chain`

/** The server's configuration, logging only warnings so command output stays readable. */
function cliConfig(): Config {
  return Object.freeze({ ...loadConfig(), logLevel: 'warn' })
}

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) return readHidden('Password: ')
  const lines = createInterface({ input: process.stdin, terminal: false })
  for await (const line of lines) {
    lines.close()
    return line
  }
  throw new Error('no password on standard input')
}

/** Reads one line from a terminal without echoing it (raw mode: keys arrive one by one). */
function readHidden(prompt: string): Promise<string> {
  process.stderr.write(prompt)
  const stdin = process.stdin
  stdin.setRawMode(true)
  stdin.resume()
  return new Promise((resolve, reject) => {
    let typed = ''
    const done = (error?: Error) => {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.off('data', onData)
      process.stderr.write('\n')
      if (error === undefined) resolve(typed)
      else reject(error)
    }
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done()
        if (char === '\u0003') return done(new Error('cancelled'))
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1)
        else typed += char
      }
    }
    stdin.on('data', onData)
  })
}

async function createAdmin(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { username: { type: 'string' }, email: { type: 'string' } },
  })
  if (values.username === undefined || values.email === undefined) {
    process.stderr.write(`${USAGE}\n`)
    return 2
  }
  const password = await readPassword()
  const { app, ctx } = await startServices(cliConfig(), {})
  try {
    const row = await createAccount(ctx, {
      username: values.username,
      email: values.email,
      password,
      roles: ['admin'],
    })
    await ctx.events.record({
      type: 'user_created',
      outcome: 'success',
      userId: row.id,
      details: { via: 'cli', roles: ['admin'] },
    })
    process.stdout.write(`created admin ${row.username} (${row.id})\n`)
    return 0
  } finally {
    await app.close()
  }
}

async function migrate(): Promise<number> {
  const database = openDatabase(cliConfig().databaseUrl)
  try {
    const applied = await migrateToLatest(database.db, database.dialect)
    process.stdout.write(
      applied.length === 0 ? 'database is up to date\n' : `applied ${applied.join(', ')}\n`,
    )
    return 0
  } finally {
    await database.close()
  }
}

async function rotateKeys(): Promise<number> {
  const { app, ctx } = await startServices(cliConfig(), {})
  try {
    const rows = await ctx.db
      .selectFrom('users')
      .select(['id', 'national_id_enc'])
      .where('national_id_enc', 'is not', null)
      .execute()
    let rotated = 0
    for (const row of rows) {
      if (row.national_id_enc === null || !ctx.cipher.isStale(row.national_id_enc)) continue
      const plain = ctx.cipher.decrypt(row.national_id_enc, 'users.national_id')
      const fresh = ctx.cipher.encrypt(plain, 'users.national_id')
      await ctx.db
        .updateTable('users')
        .set({ national_id_enc: fresh })
        .where('id', '=', row.id)
        .where('national_id_enc', '=', row.national_id_enc)
        .execute()
      rotated++
    }
    process.stdout.write(`re-encrypted ${rotated} of ${rows.length} values under the current key\n`)
    return 0
  } finally {
    await app.close()
  }
}

async function verifyEvents(): Promise<number> {
  const { app, ctx } = await startServices(cliConfig(), {})
  try {
    const result = await ctx.events.verify()
    process.stdout.write(`${JSON.stringify(result)}\n`)
    return result.ok ? 0 : 1
  } finally {
    await app.close()
  }
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'create-admin':
      return createAdmin(rest)
    case 'migrate':
      return migrate()
    case 'rotate-keys':
      return rotateKeys()
    case 'verify-events':
      return verifyEvents()
    default:
      process.stderr.write(`${USAGE}\n`)
      return 2
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError)
      process.stderr.write(`rampart: configuration error: ${error.message}\n`)
    else if (error instanceof AppError) {
      const fields = (error.errors ?? []).map((e) => `${e.field} ${e.message}`).join('; ')
      process.stderr.write(
        `rampart: ${error.detail ?? error.message}${fields === '' ? '' : `: ${fields}`}\n`,
      )
    } else
      process.stderr.write(`rampart: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  },
)
