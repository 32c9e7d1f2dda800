/**
 * Outgoing mail. With SMTP_URL set, messages go to that server through nodemailer; without it,
 * each message is written as an .eml file to $DATA_DIR/outbox/ (readable by the owner only),
 * so the embedded default works with no mail server and an operator can still read the mail.
 * Message bodies are never logged: they carry reset links.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTransport } from 'nodemailer'
import type { Config } from '../config.js'

export interface MailMessage {
  readonly to: string
  readonly subject: string
  readonly text: string
}

export interface Mailer {
  send(message: MailMessage): Promise<void>
  close(): Promise<void>
}

/** Bounds every SMTP step so a stalled server cannot hold a task forever. */
const SMTP_TIMEOUT_MS = 10_000

export function createMailer(config: Config): Mailer {
  if (config.smtpUrl !== null) return new SmtpMailer(config.smtpUrl, config.mailFrom)
  return new OutboxMailer(join(config.dataDir, 'outbox'), config.mailFrom)
}

export class SmtpMailer implements Mailer {
  private readonly transport

  constructor(
    url: string,
    private readonly from: string,
  ) {
    const parsed = new URL(url)
    this.transport = createTransport({
      host: parsed.hostname,
      port: Number(parsed.port || (parsed.protocol === 'smtps:' ? 465 : 587)),
      secure: parsed.protocol === 'smtps:',
      ...(parsed.username === ''
        ? {}
        : {
            auth: {
              user: decodeURIComponent(parsed.username),
              pass: decodeURIComponent(parsed.password),
            },
          }),
      connectionTimeout: SMTP_TIMEOUT_MS,
      greetingTimeout: SMTP_TIMEOUT_MS,
      socketTimeout: SMTP_TIMEOUT_MS,
    })
  }

  async send(message: MailMessage): Promise<void> {
    await this.transport.sendMail({ from: this.from, ...message })
  }

  async close(): Promise<void> {
    this.transport.close()
  }
}

export class OutboxMailer implements Mailer {
  private readonly composer = createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'unix',
  })

  constructor(
    readonly directory: string,
    private readonly from: string,
  ) {}

  async send(message: MailMessage): Promise<void> {
    const info = await this.composer.sendMail({ from: this.from, ...message })
    await mkdir(this.directory, { recursive: true, mode: 0o700 })
    const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID()}.eml`
    // 'wx': a new file, never an existing one followed through a planted link.
    await writeFile(join(this.directory, name), info.message, { mode: 0o600, flag: 'wx' })
  }

  async close(): Promise<void> {}
}
