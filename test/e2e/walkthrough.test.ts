import { execFileSync, spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

// The README's tour must keep working: build the server and run the script end to end.
describe('examples/walkthrough.sh', () => {
  it('passes every step against a throwaway server it starts itself', () => {
    execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'pipe' })
    // Vite sets BASE_URL for its own use; the script must start its own server here.
    const env = { ...process.env }
    delete env.BASE_URL
    const run = spawnSync('bash', ['examples/walkthrough.sh'], {
      encoding: 'utf8',
      timeout: 120_000,
      env,
    })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('== walkthrough passed')
    expect(run.stdout).toContain('authn_token_reuse')
  }, 180_000)
})
