/**
 * Runs the system `ping` once against an address the egress policy has already allowed. No shell
 * is ever involved (OWASP OS Command Injection Defense Cheat Sheet, defence 1 and 3): execFile
 * with an argument array, `--` ending the options, and the resolved address as the only operand,
 * never the caller's text.
 */
import { execFile } from 'node:child_process'
import ipaddr from 'ipaddr.js'

export interface PingResult {
  readonly reachable: boolean
  readonly rttMs: number | null
}

/** Thrown when the ping program is missing or cannot be run at all. */
export class PingUnavailable extends Error {
  override name = 'PingUnavailable'
}

// RFC 1123 2.1 host names: labels of letters, digits and inner hyphens, 253 characters at most,
// and the top label is never all digits, so 127.1 or 2130706433 cannot pass as a name.
const HOST_NAME =
  /^(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i
const NUMERIC_TOP_LABEL = /(^|\.)\d+\.?$/

/** True for an RFC 1123 host name or a strict IPv4 / IPv6 literal, and nothing else. */
export function isValidPingHost(host: string): boolean {
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return true
  if (ipaddr.IPv6.isValid(host)) return !host.includes('%') // a zone id is not an address
  return HOST_NAME.test(host) && !NUMERIC_TOP_LABEL.test(host)
}

const RTT = /\btime[=<]\s*([\d.]+)\s*ms\b/

/** Reads reachability and round-trip time from iputils or BSD ping output. */
export function parsePing(exitCode: number, output: string): PingResult {
  const match = RTT.exec(output)
  const rtt = match?.[1] === undefined ? null : Number(match[1])
  const reachable = exitCode === 0 && rtt !== null && Number.isFinite(rtt)
  return { reachable, rttMs: reachable ? rtt : null }
}

/** Pings the address once with a deadline; resolves even when the host does not answer. */
export function pingOnce(
  program: string,
  address: string,
  timeoutSeconds: number,
): Promise<PingResult> {
  // An IPv4-mapped answer is pinged as the IPv4 address it stands for.
  const target = ipaddr.process(address).toString()
  const seconds = String(timeoutSeconds)
  const args = ['-n', '-c', '1', '-W', seconds, '-w', seconds, '--', target]

  return new Promise((resolve, reject) => {
    const options = { shell: false, timeout: (timeoutSeconds + 2) * 1000, maxBuffer: 64 * 1024 }
    execFile(program, args, options, (error, stdout) => {
      if (error === null) return resolve(parsePing(0, stdout))
      if (typeof error.code === 'number') return resolve(parsePing(error.code, stdout))
      if (error.killed) return resolve({ reachable: false, rttMs: null })
      reject(new PingUnavailable(error.code ?? error.message))
    })
  })
}
