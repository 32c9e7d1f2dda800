/** A small HTTP client for tests: real requests over loopback, JSON in and out. */
export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly body: any
}

export interface RequestOptions {
  readonly token?: string
  readonly json?: unknown
  readonly form?: Record<string, string>
  readonly raw?: string | Uint8Array
  readonly headers?: Record<string, string>
}

export class Client {
  constructor(readonly base: string) {}

  async request(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...options.headers }
    let body: string | Uint8Array | undefined
    if (options.json !== undefined) {
      headers['content-type'] ??= 'application/json'
      body = JSON.stringify(options.json)
    } else if (options.form !== undefined) {
      headers['content-type'] ??= 'application/x-www-form-urlencoded'
      body = new URLSearchParams(options.form).toString()
    } else if (options.raw !== undefined) {
      body = options.raw
    }
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    const response = await fetch(this.base + path, { method, headers, body })
    const text = await response.text()
    let parsed: unknown = undefined
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      parsed = undefined
    }
    return { status: response.status, headers: response.headers, text, body: parsed }
  }

  get = (path: string, options?: RequestOptions) => this.request('GET', path, options)
  post = (path: string, options?: RequestOptions) => this.request('POST', path, options)
  patch = (path: string, options?: RequestOptions) => this.request('PATCH', path, options)
  put = (path: string, options?: RequestOptions) => this.request('PUT', path, options)
  delete = (path: string, options?: RequestOptions) => this.request('DELETE', path, options)
}

let counter = 0

/** A unique, policy-compliant identity for a test user. */
export function newIdentity(prefix = 'user') {
  counter++
  const tag = `${prefix}${counter}${Math.random().toString(36).slice(2, 8)}`
  return { username: tag, email: `${tag}@example.com`, password: `Xq7!vLp2#Rz${counter}-mW9` }
}

export interface Account {
  readonly id: string
  readonly username: string
  readonly email: string
  readonly password: string
  readonly access: string
  readonly refresh: string
}

/** Signs up and logs in a fresh user. */
export async function signupAndLogin(client: Client, prefix = 'user'): Promise<Account> {
  const identity = newIdentity(prefix)
  const created = await client.post('/users', { json: identity })
  if (created.status !== 201) throw new Error(`signup failed: ${created.status} ${created.text}`)
  const tokens = await client.post('/login', {
    json: { username: identity.username, password: identity.password },
  })
  if (tokens.status !== 200) throw new Error(`login failed: ${tokens.status} ${tokens.text}`)
  return {
    ...identity,
    id: created.body.id,
    access: tokens.body.access_token,
    refresh: tokens.body.refresh_token,
  }
}

/** Signs up a user, gives it the roles directly in the database, and logs it in. */
export async function accountWithRoles(
  client: Client,
  setRoles: (userId: string, roles: string[]) => Promise<void>,
  roles: string[],
  prefix = 'staff',
): Promise<Account> {
  const identity = newIdentity(prefix)
  const created = await client.post('/users', { json: identity })
  if (created.status !== 201) throw new Error(`signup failed: ${created.status} ${created.text}`)
  await setRoles(created.body.id, roles)
  const tokens = await client.post('/login', {
    json: { username: identity.username, password: identity.password },
  })
  return {
    ...identity,
    id: created.body.id,
    access: tokens.body.access_token,
    refresh: tokens.body.refresh_token,
  }
}
