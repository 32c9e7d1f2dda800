/**
 * Fetches one page on a caller's behalf under the egress policy: every hop is checked before the
 * request and again at connect time, redirects are followed by hand (at most MAX_REDIRECTS), and
 * one deadline covers connecting, redirects and reading the body.
 */
import { Agent, request, type Dispatcher } from 'undici'
import { EgressDenied, guardedConnector } from '../../security/egress-connector.js'
import { resolveChecked, type EgressPolicy, type Resolver } from '../../security/egress.js'
import { readPage } from './page-reader.js'

export const MAX_REDIRECTS = 5
const REDIRECTS = new Set([301, 302, 303, 307, 308])

// Fixed request headers: nothing from the caller is forwarded and no cookie or credential is ever
// sent. No Accept-Encoding, so servers answer uncompressed and the byte cap is the real size.
const HEADERS = {
  accept: 'text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1',
  'user-agent': 'Rampart-Fetch/0.1',
}

export interface FetchLimits {
  readonly maxBytes: number
  readonly timeoutMs: number
  readonly connectTimeoutMs: number
}

export interface FetchedPage {
  readonly url: string
  readonly final_url: string
  readonly status: number
  readonly content_type: string | null
  readonly title: string | null
  readonly content: string
}

/** Why a fetch did not produce a page; `reason` is for the security log, never the client. */
export class FetchError extends Error {
  override name = 'FetchError'
  constructor(
    readonly kind: 'blocked' | 'timeout' | 'failed',
    readonly reason: string,
    readonly host: string | null = null,
    readonly hop = 0,
  ) {
    super(reason)
  }
}

export class PageFetcher {
  constructor(
    private readonly policy: EgressPolicy,
    private readonly resolver: Resolver,
    private readonly limits: FetchLimits,
  ) {}

  /** Fetches the URL, following redirects by hand; throws FetchError for every failure. */
  async fetch(raw: string): Promise<FetchedPage> {
    const signal = AbortSignal.timeout(this.limits.timeoutMs)
    const agent = new Agent({
      connect: guardedConnector(this.policy, this.resolver, this.limits.connectTimeoutMs),
      headersTimeout: this.limits.timeoutMs,
      bodyTimeout: this.limits.timeoutMs,
      connections: 1,
    })
    try {
      return await this.follow(raw, agent, signal)
    } catch (error) {
      throw asFetchError(error, signal)
    } finally {
      void agent.destroy().catch(() => undefined)
    }
  }

  private async follow(raw: string, agent: Dispatcher, signal: AbortSignal): Promise<FetchedPage> {
    let url = await this.checked(raw, 0, signal)
    for (let hop = 0; ; hop++) {
      // No redirect interceptor is installed, so undici returns 3xx answers as they are.
      const response = await request(url, {
        dispatcher: agent,
        method: 'GET',
        headers: HEADERS,
        signal,
      })
      const location = header(response.headers.location)
      if (!REDIRECTS.has(response.statusCode) || location === null) {
        return await this.page(raw, url, response)
      }

      discard(response.body)
      if (hop >= MAX_REDIRECTS) {
        throw new FetchError('failed', 'too many redirects', url.hostname, hop)
      }
      url = await this.checked(new URL(location, url).href, hop + 1, signal)
    }
  }

  /** The policy's static checks, then the host's current answers, before any connection. */
  private async checked(raw: string, hop: number, signal: AbortSignal): Promise<URL> {
    const verdict = this.policy.checkUrl(raw)
    if (!verdict.allowed) throw new FetchError('blocked', verdict.reason, hostOf(raw), hop)
    const { hostname, url } = verdict.target

    const resolved = await beforeDeadline(
      resolveChecked(this.policy, this.resolver, hostname),
      signal,
    )
    if (!resolved.allowed) throw new FetchError('blocked', resolved.reason, hostname, hop)
    return url
  }

  private async page(
    raw: string,
    url: URL,
    response: Dispatcher.ResponseData,
  ): Promise<FetchedPage> {
    const contentType = header(response.headers['content-type'])
    const body = await readPage(response.body, contentType, this.limits.maxBytes).finally(() =>
      discard(response.body),
    )
    return {
      url: raw,
      final_url: url.href,
      status: response.statusCode,
      content_type: contentType,
      title: body.title,
      content: body.content,
    }
  }
}

// A slow resolver cannot hold the request past the deadline (the lookup itself runs on).
function beforeDeadline<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  return new Promise((resolve, reject) => {
    const abort = (): void => reject(signal.reason as Error)
    signal.addEventListener('abort', abort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort))
  })
}

// Closing a body early makes undici abort the request with an error event; nobody waits for it.
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined)
  body.destroy()
}

function header(value: string | string[] | undefined): string | null {
  const first = Array.isArray(value) ? value[0] : value
  return first === undefined || first === '' ? null : first
}

function hostOf(raw: string): string | null {
  try {
    return new URL(raw).hostname
  } catch {
    return null
  }
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])

/** Maps whatever undici or the policy threw to one FetchError. */
function asFetchError(error: unknown, signal: AbortSignal): FetchError {
  if (error instanceof FetchError) return error
  const denied = error instanceof EgressDenied ? error : (error as { cause?: unknown }).cause
  if (denied instanceof EgressDenied)
    return new FetchError('blocked', `connect: ${denied.reason}`, denied.host)
  if (signal.aborted) return new FetchError('timeout', 'total timeout')

  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return new FetchError('timeout', code)
  const text = error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error'
  return new FetchError('failed', text.slice(0, 200))
}
