/** A minimal SSE reader for tests: fetch the stream, parse messages until the server ends it. */

export interface SseMessage {
  id?: string
  event: string
  data: string
}

/** A running SSE read: messages so far, and a promise of the end of the response. */
export interface SseRead {
  messages: SseMessage[]
  status: number
  done: Promise<void>
  abort(): void
}

/** Opens `url` as an event stream; resolves once the response headers arrive. */
export async function readSse(url: string, headers: Record<string, string> = {}): Promise<SseRead> {
  const ctrl = new AbortController()
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ctrl.signal })
  const messages: SseMessage[] = []
  const read: SseRead = { messages, status: res.status, done: Promise.resolve(), abort: () => ctrl.abort() }
  if (!res.ok || !res.body) {
    await res.text().catch(() => '')
    return read
  }
  const body = res.body
  read.done = (async () => {
    const decoder = new TextDecoder()
    let buf = ''
    try {
      const reader = body.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        buf += decoder.decode(value, { stream: true })
        for (let at = buf.indexOf('\n\n'); at >= 0; at = buf.indexOf('\n\n')) {
          const block = buf.slice(0, at)
          buf = buf.slice(at + 2)
          const msg: SseMessage = { event: 'message', data: '' }
          const data: string[] = []
          let any = false
          for (const line of block.split('\n')) {
            if (line.startsWith(':') || line === '') continue
            const colon = line.indexOf(':')
            const field = colon < 0 ? line : line.slice(0, colon)
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
            if (field === 'id') msg.id = value
            else if (field === 'event') msg.event = value
            else if (field === 'data') data.push(value)
            else continue
            any = true
          }
          if (!any || data.length === 0) continue
          msg.data = data.join('\n')
          messages.push(msg)
        }
      }
    } catch (err) {
      if (!ctrl.signal.aborted) throw err
    }
  })()
  return read
}

/** The seqs carried by `event` / `events` messages, in order. */
export function sseSeqs(messages: SseMessage[]): number[] {
  const out: number[] = []
  for (const m of messages) {
    if (m.event === 'event') out.push(JSON.parse(m.data).seq)
    else if (m.event === 'events') for (const it of JSON.parse(m.data).items) out.push(it.seq)
  }
  return out
}
