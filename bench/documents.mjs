// Authenticated GET /documents/{id} against a bare Fastify route, measured in the same run.
// Usage: npm run bench   (builds first; 32 connections, BENCH_SECONDS per phase, default 10)
import { json, load, startChild, summary } from './lib.mjs'

const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const rampart = await startChild('dist/src/main.js', { NODE_ENV: 'development', ...benchLimits() })
const bare = await startChild('bench/bare-server.mjs')
try {
  const identity = {
    username: 'benchuser',
    email: 'bench@example.com',
    password: 'Tq8!mZr4-Wolke-Vx',
  }
  await json(`${rampart.url}/users`, 'POST', identity)
  const tokens = await json(`${rampart.url}/login`, 'POST', {
    username: identity.username,
    password: identity.password,
  })
  const doc = await json(
    `${rampart.url}/documents`,
    'POST',
    { title: 'bench', content: 'x'.repeat(64) },
    tokens.access_token,
  )

  await load({ url: `${bare.url}/bare`, duration: 2 })
  const baseline = summary(
    'bare fastify GET /bare',
    await load({ url: `${bare.url}/bare`, duration: seconds }),
  )
  const path = `/documents/${doc.id}`
  const headers = { authorization: `Bearer ${tokens.access_token}` }
  await load({ url: rampart.url + path, headers, duration: 2 })
  const authed = summary(
    `rampart GET ${'/documents/{id}'} (authenticated)`,
    await load({ url: rampart.url + path, headers, duration: seconds }),
  )

  console.table([baseline, authed])
  const ratio = authed.rps / baseline.rps
  console.log(`ratio authenticated/bare: ${(ratio * 100).toFixed(1)}% (target >= 40%)`)
  if (authed.non2xx > 0)
    console.log(`warning: ${authed.non2xx} non-2xx answers during the authenticated run`)
} finally {
  await rampart.stop()
  await bare.stop()
}

// The bench drives one client IP hard; lift the per-IP request ceiling for this run only.
function benchLimits() {
  return { RATE_LIMIT_GLOBAL_PER_MINUTE: '100000000' }
}
