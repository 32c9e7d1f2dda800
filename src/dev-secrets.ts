/** Development secrets kept in the data folder; production never reaches this file. */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from './config.js'

/**
 * Development secrets: generated once into $DATA_DIR/secrets.json (mode 0600) and reused.
 * In production a missing secret is a startup error instead.
 */
export class DevSecrets {
  private readonly file: string
  private values: Record<string, string> | undefined

  constructor(
    private readonly dataDir: string,
    private readonly production: boolean,
  ) {
    this.file = join(dataDir, 'secrets.json')
  }

  get(name: string, generate: () => string): string {
    if (this.production) throw new ConfigError(name, 'is required when NODE_ENV=production')
    const values = this.load()
    const existing = values[name]
    if (existing !== undefined) return existing
    values[name] = generate()
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 })
    writeFileSync(this.file, JSON.stringify(values, null, 2) + '\n', { mode: 0o600 })
    chmodSync(this.file, 0o600)
    return values[name]
  }

  private load(): Record<string, string> {
    if (this.values !== undefined) return this.values
    this.values = {}
    if (existsSync(this.file)) {
      try {
        this.values = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, string>
      } catch {
        throw new ConfigError('DATA_DIR', `${this.file} is not valid JSON; remove it to regenerate`)
      }
    }
    return this.values
  }
}
