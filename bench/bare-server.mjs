// The baseline: a bare Fastify route with no plugins, on the same machine and runtime.
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.get('/health', async () => ({ status: 'ok' }))
app.get('/bare', async () => ({
  id: '00000000-0000-4000-8000-000000000000',
  title: 'bench',
  content: 'x'.repeat(64),
}))
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) })
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)))
