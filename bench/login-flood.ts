// GET p99 of an authenticated route, alone and while a login flood runs, in one run.
// Usage: npm run bench:login-flood   (builds first; BENCH_SECONDS per phase, default 10)
//
// The server runs as its own process on loopback with the brute-force limits lifted, so every
// flood request reaches the password hasher: the worst case, a flood spread over many clients.
// What keeps the GET fast is the hashing cap (PASSWORD_HASH_CONCURRENCY / PASSWORD_HASH_QUEUE).
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon, { type Options, type Result } from 'autocannon'

const seconds = Number(process.env.BENCH_SECONDS ?? 10)

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function waitFor(url: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${url}`)
}

async function post(url: string, body: unknown): Promise<Record<string, string>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (!response.ok) throw new Error(`POST ${url}: ${response.status}`)
  return (await response.json()) as Record<string, string>
}

function load(options: Options): Promise<Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error: Error | null, result) =>
      error === null ? resolve(result) : reject(error),
    )
  })
}

function status(result: Result, code: string): number {
  return result.statusCodeStats?.[code as `${number}`]?.count ?? 0
}

const port = await freePort()
const dataDir = mkdtempSync(join(tmpdir(), 'rampart-bench-'))
const child: ChildProcess = spawn(process.execPath, ['dist/src/main.js'], {
  env: {
    ...process.env,
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_GLOBAL_PER_MINUTE: '100000000',
    RATE_LIMIT_LOGIN_IP_FAILURES_PER_DAY: '1000000',
    RATE_LIMIT_LOGIN_USER_FAILURES: '10000',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
})
const url = `http://127.0.0.1:${port}`
try {
  await waitFor(`${url}/health`)
  const identity = {
    username: 'benchuser',
    email: 'bench@example.com',
    password: 'Tq8!mZr4-Wolke-Vx',
  }
  await post(`${url}/users`, identity)
  const tokens = await post(`${url}/login`, {
    username: identity.username,
    password: identity.password,
  })
  const get: Options = {
    url: `${url}/users/me`,
    connections: 8,
    duration: seconds,
    headers: { authorization: `Bearer ${tokens.access_token}` },
  }

  await load({ ...get, duration: 2 })
  const quiet = await load(get)
  const flood: Options = {
    url,
    connections: 64,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/login',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({
          ...request,
          body: JSON.stringify({
            username: `flood_${randomBytes(6).toString('hex')}`,
            password: 'Wrong-password-1!',
          }),
        }),
      },
    ],
  }
  const [loud, flooding] = await Promise.all([load(get), load(flood)])

  console.table([
    {
      run: 'GET /users/me, no flood',
      rps: Math.round(quiet.requests.average),
      p50_ms: quiet.latency.p50,
      p99_ms: quiet.latency.p99,
      non2xx: quiet.non2xx,
    },
    {
      run: 'GET /users/me, login flood',
      rps: Math.round(loud.requests.average),
      p50_ms: loud.latency.p50,
      p99_ms: loud.latency.p99,
      non2xx: loud.non2xx,
    },
  ])
  console.log(
    `login flood: ${Math.round(flooding.requests.average)} req/s, 401 ${status(flooding, '401')}, ` +
      `503 busy ${status(flooding, '503')}, 429 ${status(flooding, '429')}, p99 ${flooding.latency.p99} ms`,
  )
  console.log(
    `GET p99 with flood / without: ${(loud.latency.p99 / Math.max(quiet.latency.p99, 1)).toFixed(1)}x`,
  )
} finally {
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  rmSync(dataDir, { recursive: true, force: true })
}
