/**
 * Real servers on loopback for outbound tests: HTTP targets with scripted routes, and leak
 * detectors that count every TCP connection they receive (they must stay at zero).
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net'

export interface Listening {
  readonly host: string
  readonly port: number
  close(): Promise<void>
}

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve())
  })
  return (server.address() as AddressInfo).port
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
      server.close(() => resolve())
    })
}

/** A TCP listener that only counts connections: any count above zero is a leak. */
export async function leakDetector(host: string): Promise<Listening & { connections(): number }> {
  let connections = 0
  const server = createTcpServer((socket) => {
    connections++
    socket.destroy()
  })
  const port = await listen(server, host)
  return { host, port, connections: () => connections, close: closer(server) }
}

export type Route = (request: IncomingMessage, response: ServerResponse) => void

/** An HTTP server on loopback answering from a table of routes (by path), 404 otherwise. */
export async function httpTarget(
  host: string,
  routes: Record<string, Route>,
): Promise<Listening & { hits: string[] }> {
  const hits: string[] = []
  const server = createHttpServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/'
    hits.push(path)
    const route = routes[path]
    if (route === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      return
    }
    route(request, response)
  })
  const port = await listen(server, host)
  return { host, port, hits, close: closer(server) }
}
