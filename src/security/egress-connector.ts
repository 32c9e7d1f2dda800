/**
 * The egress policy at connect time, as an undici connector. It resolves the host itself, checks
 * every answer, and dials the checked address rather than the name, so a DNS answer that changes
 * between an earlier check and the connection (DNS rebinding) can never reach a forbidden address
 * (OWASP SSRF Prevention Cheat Sheet, "DNS pinning").
 */
import type { Socket } from 'node:net'
import { buildConnector } from 'undici'
import { resolveChecked, type EgressPolicy, type Resolver } from './egress.js'

/** A connection the egress policy refused; `reason` is for the security log, never the client. */
export class EgressDenied extends Error {
  override name = 'EgressDenied'
  constructor(
    readonly reason: string,
    readonly host: string,
  ) {
    super('destination not allowed')
  }
}

/** Builds an undici connector that only ever dials addresses the policy allows. */
export function guardedConnector(
  policy: EgressPolicy,
  resolver: Resolver,
  connectTimeoutMs: number,
): buildConnector.connector {
  const dial = buildConnector({ timeout: connectTimeoutMs })

  return (options, callback) => {
    const { hostname } = options
    resolveChecked(policy, resolver, hostname).then(
      (verdict) => {
        if (!verdict.allowed) return callback(new EgressDenied(verdict.reason, hostname), null)
        const address = verdict.addresses[0] ?? ''
        // `host` still names the origin, so TLS SNI and certificate checks use the host name.
        dial({ ...options, hostname: address }, (error, socket) => {
          if (error !== null) return callback(error, null)
          const peer = peerVerdict(policy, socket, hostname)
          if (peer !== undefined) {
            socket.destroy()
            return callback(new EgressDenied(peer, hostname), null)
          }
          callback(null, socket)
        })
      },
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), null),
    )
  }
}

// Defence in depth: the peer the kernel actually connected to must pass the policy as well.
function peerVerdict(policy: EgressPolicy, socket: Socket, hostname: string): string | undefined {
  const peer = socket.remoteAddress
  if (peer === undefined) return 'no peer address'
  const verdict = policy.checkAddress(peer, hostname)
  return verdict.allowed ? undefined : `peer ${verdict.reason}`
}
