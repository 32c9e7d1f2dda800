/**
 * Reads a fetched body as a stream: stops at the byte cap (the rest is never read, so a huge page
 * cannot fill memory), decodes only text types, and takes the title with a real HTML parser.
 */
import { TextDecoder } from 'node:util'
import { Parser } from 'htmlparser2'

export const CONTENT_CHARS = 1000
const TITLE_CHARS = 300

const TEXT_TYPES = new Set([
  'application/json',
  'application/xml',
  'application/xhtml+xml',
  'application/javascript',
])
const HTML_TYPES = new Set(['text/html', 'application/xhtml+xml'])

export interface ReadPage {
  readonly title: string | null
  readonly content: string
  readonly bytes: number
  readonly truncated: boolean
}

/** The media type without parameters, lower-cased (RFC 9110 8.3.1). */
export function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

export function isTextType(type: string): boolean {
  return type.startsWith('text/') || TEXT_TYPES.has(type) || /\+(json|xml)$/.test(type)
}

/** A decoder for the declared charset; unknown labels fall back to UTF-8 rather than failing. */
function decoderFor(contentType: string | null): TextDecoder {
  const label = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '')?.[1] ?? 'utf-8'
  try {
    return new TextDecoder(label)
  } catch {
    return new TextDecoder('utf-8')
  }
}

/** Collects the first <title> text of an HTML document as it streams past. */
class TitleCollector {
  private state: 'before' | 'inside' | 'done' = 'before'
  private text = ''
  readonly parser = new Parser(
    {
      onopentag: (name) => {
        if (name === 'title' && this.state === 'before') this.state = 'inside'
      },
      ontext: (data) => {
        if (this.state === 'inside' && this.text.length < TITLE_CHARS * 4) this.text += data
      },
      onclosetag: (name) => {
        if (name === 'title' && this.state === 'inside') this.state = 'done'
      },
    },
    { decodeEntities: true },
  )

  get title(): string | null {
    if (this.state === 'before') return null
    return this.text.replace(/\s+/g, ' ').trim().slice(0, TITLE_CHARS)
  }
}

/** Reads at most maxBytes of the body; a text body is decoded, anything else is not read. */
export async function readPage(
  body: AsyncIterable<Uint8Array>,
  contentType: string | null,
  maxBytes: number,
): Promise<ReadPage> {
  const type = mediaType(contentType)
  if (!isTextType(type)) return { title: null, content: '', bytes: 0, truncated: false }

  const decoder = decoderFor(contentType)
  const titles = HTML_TYPES.has(type) ? new TitleCollector() : undefined
  let content = ''
  let bytes = 0
  let truncated = false
  const take = (chunk: Uint8Array, last: boolean): void => {
    const text = decoder.decode(chunk, { stream: !last })
    if (content.length < CONTENT_CHARS) content += text.slice(0, CONTENT_CHARS - content.length)
    titles?.parser.write(text)
  }

  for await (const chunk of body) {
    const room = maxBytes - bytes
    // Leaving the loop early destroys the stream and closes the connection: nothing more is read.
    if (chunk.byteLength >= room) {
      take(chunk.subarray(0, room), true)
      bytes = maxBytes
      truncated = chunk.byteLength > room
      break
    }
    take(chunk, false)
    bytes += chunk.byteLength
  }
  if (!truncated) take(new Uint8Array(0), true)
  titles?.parser.end()
  return { title: titles?.title ?? null, content: wholeCharacters(content), bytes, truncated }
}

// Never end on half of a surrogate pair: it would not be valid text once serialised.
function wholeCharacters(text: string): string {
  const last = text.charCodeAt(text.length - 1)
  return last >= 0xd800 && last <= 0xdbff ? text.slice(0, -1) : text
}
