import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBootstrapAdmin } from '../../src/bootstrap.js'
import { openDatabase } from '../../src/db/database.js'
import { Client, accountWithRoles, newIdentity, signupAndLogin } from '../helpers/client.js'
import {
  dbKind,
  freshDatabaseUrl,
  roleSetter,
  startTestServer,
  testSecretEnv,
} from '../helpers/server.js'

const ROOT = resolve(import.meta.dirname, '../..')

describe('bootstrap admin', () => {
  it('is created once from BOOTSTRAP_ADMIN_*, can log in, and is not recreated', async () => {
    const admin = { ...newIdentity('boot'), username: 'admin' }
    const env = {
      BOOTSTRAP_ADMIN_USERNAME: admin.username,
      BOOTSTRAP_ADMIN_EMAIL: admin.email,
      BOOTSTRAP_ADMIN_PASSWORD: admin.password,
    }
    const server = await startTestServer({ env })
    try {
      expect(await ensureBootstrapAdmin(server.ctx, server.config.bootstrapAdmin)).toBe('created')
      expect(await ensureBootstrapAdmin(server.ctx, server.config.bootstrapAdmin)).toBe('exists')
      const rows = await server.ctx.db.selectFrom('users').select(['roles', 'username']).execute()
      expect(rows).toEqual([{ roles: '["admin"]', username: 'admin' }])
      const client = new Client(server.url)
      const login = await client.post('/login', {
        json: { username: admin.username, password: admin.password },
      })
      expect(login.status).toBe(200)
      expect((await client.get('/admin/users', { token: login.body.access_token })).status).toBe(
        200,
      )
      // The admin named "admin" can change the own password (the name is not re-judged).
      const changed = await client.patch(
        `/users/${(await client.get('/users/me', { token: login.body.access_token })).body.id}`,
        {
          token: login.body.access_token,
          json: { password: 'Fresh!Adm1n-passphrase', current_password: admin.password },
        },
      )
      expect(changed.status, changed.text).toBe(200)
      // Self-signup still cannot take a reserved name.
      expect(
        (await client.post('/users', { json: { ...newIdentity(), username: 'Root' } })).status,
      ).toBe(422)
    } finally {
      await server.close()
    }
  })

  it('is not created when an admin already exists', async () => {
    const first = newIdentity('first')
    const server = await startTestServer({
      env: {
        BOOTSTRAP_ADMIN_USERNAME: first.username,
        BOOTSTRAP_ADMIN_EMAIL: first.email,
        BOOTSTRAP_ADMIN_PASSWORD: first.password,
      },
    })
    try {
      expect(await ensureBootstrapAdmin(server.ctx, server.config.bootstrapAdmin)).toBe('created')
      const second = newIdentity('second')
      const result = await ensureBootstrapAdmin(server.ctx, {
        username: second.username,
        email: second.email,
        password: second.password,
      })
      expect(result).toBe('exists')
      const names = (await server.ctx.db.selectFrom('users').select('username').execute()).map(
        (r) => r.username,
      )
      expect(names).toEqual([first.username])
    } finally {
      await server.close()
    }
  })

  it('without BOOTSTRAP_ADMIN_* nothing is created: no default credentials', async () => {
    const server = await startTestServer()
    try {
      expect(await ensureBootstrapAdmin(server.ctx, server.config.bootstrapAdmin)).toBe('skipped')
      expect(await server.ctx.db.selectFrom('users').select('id').execute()).toEqual([])
      const client = new Client(server.url)
      for (const [username, password] of [
        ['admin', 'admin'],
        ['admin', 'password'],
        ['root', 'root'],
      ]) {
        expect((await client.post('/login', { json: { username, password } })).status).toBe(401)
      }
    } finally {
      await server.close()
    }
  })

  it.each([
    ['a malformed username', { username: 'bad name!', email: 'ok@example.com' }],
    ['a malformed email', { username: 'good_name', email: 'not-an-email' }],
    ['an over-long email', { username: 'good_name', email: `${'a'.repeat(250)}@example.com` }],
  ])('a bootstrap admin with %s is refused', async (_label, identity) => {
    const server = await startTestServer()
    try {
      await expect(
        ensureBootstrapAdmin(server.ctx, { ...identity, password: 'Str0ng!bootstrap-pass' }),
      ).rejects.toThrow()
      expect(await server.ctx.db.selectFrom('users').select('id').execute()).toEqual([])
    } finally {
      await server.close()
    }
  })

  it('a weak bootstrap password is refused', async () => {
    const server = await startTestServer({
      env: {
        BOOTSTRAP_ADMIN_USERNAME: 'boss_x',
        BOOTSTRAP_ADMIN_EMAIL: 'boss@example.com',
        BOOTSTRAP_ADMIN_PASSWORD: 'password1234',
      },
    })
    try {
      await expect(ensureBootstrapAdmin(server.ctx, server.config.bootstrapAdmin)).rejects.toThrow()
      expect(await server.ctx.db.selectFrom('users').select('id').execute()).toEqual([])
    } finally {
      await server.close()
    }
  })
})

describe('the rampart command', () => {
  const outDir = join(ROOT, 'dist', `cli-test-${dbKind()}`)
  const cli = join(outDir, 'src', 'cli.js')
  let dataDir: string
  let database: { url: string; drop: () => Promise<void> }
  let env: NodeJS.ProcessEnv

  beforeAll(async () => {
    // A build of the current source, in a folder of its own so parallel runs do not collide.
    await promisify(execFile)(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        join(ROOT, 'tsconfig.build.json'),
        '--outDir',
        outDir,
        '--tsBuildInfoFile',
        join(outDir, '.tsbuildinfo'),
      ],
      { cwd: ROOT },
    )
    dataDir = mkdtempSync(join(tmpdir(), 'rampart-cli-'))
    database = await freshDatabaseUrl(dataDir)
    env = {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'silent',
      ...testSecretEnv(),
    }
  }, 120_000)
  afterAll(async () => {
    await database.drop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  function run(
    args: string[],
    stdin = '',
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((done, fail) => {
      const child = spawn(process.execPath, [cli, ...args], { env, cwd: dataDir })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      child.on('error', fail)
      child.on('close', (code) => done({ code, stdout, stderr }))
      child.stdin.end(stdin)
    })
  }

  async function withDb<T>(
    work: (db: ReturnType<typeof openDatabase>['db']) => Promise<T>,
  ): Promise<T> {
    const handle = openDatabase(database.url)
    try {
      return await work(handle.db)
    } finally {
      await handle.close()
    }
  }

  it('migrate applies the migrations, then reports the database up to date', async () => {
    const first = await run(['migrate'])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toMatch(/applied 001-foundation|up to date/)
    const second = await run(['migrate'])
    expect(second.code).toBe(0)
    expect(second.stdout).toMatch(/up to date/)
  })

  it('create-admin reads the password from stdin and creates an admin who can log in', async () => {
    const admin = newIdentity('cli')
    const result = await run(
      ['create-admin', '--username', admin.username, '--email', admin.email],
      `${admin.password}\n`,
    )
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain(`created admin ${admin.username}`)
    expect(result.stdout + result.stderr).not.toContain(admin.password)
    const row = await withDb((db) =>
      db
        .selectFrom('users')
        .select(['roles', 'password_hash'])
        .where('username', '=', admin.username)
        .executeTakeFirst(),
    )
    expect(row?.roles).toBe('["admin"]')
    expect(row?.password_hash.startsWith('$argon2id$')).toBe(true)

    const server = await startTestServer({ databaseUrl: database.url })
    try {
      const login = await new Client(server.url).post('/login', {
        json: { username: admin.username, password: admin.password },
      })
      expect(login.status).toBe(200)
    } finally {
      await server.close()
    }
  })

  it('create-admin refuses a weak password, a taken name and missing arguments, creating nothing', async () => {
    const before = await withDb((db) => db.selectFrom('users').select('id').execute())
    const weak = await run(
      ['create-admin', '--username', 'weak_admin', '--email', 'weak@example.com'],
      'password1234\n',
    )
    expect(weak.code).not.toBe(0)
    expect(weak.stderr).toMatch(/password/)
    const badName = await run(
      ['create-admin', '--username', 'no spaces allowed', '--email', 'x@example.com'],
      'Str0ng!cli-passphrase\n',
    )
    expect(badName.code).not.toBe(0)
    expect(badName.stderr).toMatch(/username/)
    const badEmail = await run(
      ['create-admin', '--username', 'mail_admin', '--email', 'nope'],
      'Str0ng!cli-passphrase\n',
    )
    expect(badEmail.code).not.toBe(0)
    expect(badEmail.stderr).toMatch(/email/)
    const noStdin = await run([
      'create-admin',
      '--username',
      'empty_admin',
      '--email',
      'empty@example.com',
    ])
    expect(noStdin.code).not.toBe(0)
    const usage = await run(['create-admin', '--username', 'only_name'])
    expect(usage.code).toBe(2)
    expect((await run(['no-such-command'])).code).toBe(2)
    expect(await withDb((db) => db.selectFrom('users').select('id').execute())).toEqual(before)
  })

  it('a bad configuration stops the command with one line naming the variable', async () => {
    const saved = env
    env = { ...env, PORT: 'eighty' }
    try {
      const result = await run(['migrate'])
      expect(result.code).toBe(1)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toContain('PORT')
    } finally {
      env = saved
    }
  })

  it('the server refuses a weak bootstrap admin password with one line naming the variable', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((done, fail) => {
      const child = spawn(process.execPath, [join(outDir, 'src', 'main.js')], {
        // A database of its own: no admin exists yet, so the bootstrap admin is attempted.
        env: {
          ...env,
          DATABASE_URL: `sqlite:${join(dataDir, 'bootstrap-weak.db')}`,
          PORT: '0',
          BOOTSTRAP_ADMIN_USERNAME: 'boot_weak',
          BOOTSTRAP_ADMIN_EMAIL: 'boot@example.com',
          BOOTSTRAP_ADMIN_PASSWORD: 'short',
        },
        cwd: dataDir,
      })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      child.on('error', fail)
      child.on('close', (code) => done({ code, stderr }))
    })
    expect(result.code).toBe(1)
    expect(result.stderr.trim()).toBe(
      'rampart: configuration error: BOOTSTRAP_ADMIN_PASSWORD: must be at least 12 characters',
    )
  })

  it('rotate-keys re-encrypts national_id under the first key, and the value still reads back', async () => {
    const oldKeys = env.ENCRYPTION_KEYS ?? ''
    const server = await startTestServer({
      databaseUrl: database.url,
      env: { ENCRYPTION_KEYS: oldKeys },
    })
    let userId: string
    try {
      const alice = await signupAndLogin(new Client(server.url), 'rotate')
      userId = alice.id
      expect(
        (
          await new Client(server.url).patch(`/users/${alice.id}`, {
            token: alice.access,
            json: { national_id: 'QQ123456' },
          })
        ).status,
      ).toBe(200)
    } finally {
      await server.close()
    }
    const before = await withDb((db) =>
      db
        .selectFrom('users')
        .select('national_id_enc')
        .where('id', '=', userId)
        .executeTakeFirstOrThrow(),
    )
    expect(before.national_id_enc?.startsWith('v1.k1.')).toBe(true)

    const newKeys = `k2:${randomBytes(32).toString('base64')},${oldKeys}`
    const saved = env
    env = { ...env, ENCRYPTION_KEYS: newKeys }
    try {
      const result = await run(['rotate-keys'])
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toMatch(/re-encrypted [1-9]/)
    } finally {
      env = saved
    }
    const after = await withDb((db) =>
      db
        .selectFrom('users')
        .select('national_id_enc')
        .where('id', '=', userId)
        .executeTakeFirstOrThrow(),
    )
    expect(after.national_id_enc?.startsWith('v1.k2.')).toBe(true)
    expect(after.national_id_enc).not.toContain('QQ123456')

    const onlyNew = `k2:${newKeys.split(',')[0]?.slice(3) ?? ''}`
    const reader = await startTestServer({
      databaseUrl: database.url,
      env: { ENCRYPTION_KEYS: onlyNew },
    })
    try {
      const client = new Client(reader.url)
      const admin = await accountWithRoles(client, roleSetter(reader), ['admin'], 'rotadm')
      const reply = await client.get(`/users/${userId}`, { token: admin.access })
      expect(reply.body.national_id).toBe('QQ123456')
    } finally {
      await reader.close()
    }
  })

  it('verify-events exits 0 on an intact chain and 1 after a row is edited', async () => {
    const ok = await run(['verify-events'])
    expect(ok.code, ok.stderr).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true })
    expect(JSON.parse(ok.stdout).checked).toBeGreaterThan(0)
    const first = await withDb((db) =>
      db.selectFrom('security_events').select('id').orderBy('seq').executeTakeFirstOrThrow(),
    )
    await withDb((db) =>
      db
        .updateTable('security_events')
        .set({ type: 'forged' })
        .where('id', '=', first.id)
        .execute(),
    )
    const bad = await run(['verify-events'])
    expect(bad.code).toBe(1)
    expect(JSON.parse(bad.stdout)).toEqual({ ok: false, checked: 0, first_bad: first.id })
  })
})
