/**
 * A local OpenAI-compatible chat-completions server for tests. It speaks the real streaming wire
 * format (`data: {chunk}\n\n` server-sent events, usage in a last chunk with no choices when the
 * request asks for `stream_options.include_usage`, then `data: [DONE]`), and writes the bytes
 * in awkward pieces (splitting lines, events and UTF-8 characters) as separate HTTP chunks. Each
 * request takes the next scripted reply: a stream, an HTTP error status, a stream that drops
 * its connection, or one with a malformed chunk. A reply can wait at a gate, so a test decides
 * when the rest is written; every request records when its connection closed.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface StreamReply {
  kind: 'stream'
  /** The model's whole text, sent as content deltas of the sizes in `deltas` (cycled). */
  text: string
  deltas?: number[]
  /** Byte sizes of the HTTP writes (cycled); small and odd by default. */
  bytes?: number[]
  usage?: { prompt_tokens: number; completion_tokens: number }
  finishReason?: string
  /** After this many deltas: drop the connection, send a malformed chunk or an error payload (`{ error }`), or neither; then wait for `gate` if given and go on. */
  after?: number
  fault?: 'drop' | 'malformed' | 'error-payload'
  gate?: Promise<void>
}

export interface StatusReply {
  kind: 'status'
  status: number
  /** Seconds, sent as `retry-after`. */
  retryAfter?: number
}

export type Reply = StreamReply | StatusReply

export interface SeenRequest {
  body: Record<string, any>
  headers: IncomingMessage['headers']
  /** Resolves when the connection of this request closed; `finished` tells whether the reply was complete. */
  closed: Promise<{ finished: boolean }>
  /** Deltas written so far. */
  sent: number
}

export interface FakeOpenAI {
  /** The base URL to give the provider (`…/v1`). */
  baseURL: string
  requests: SeenRequest[]
  /** Queues replies for the next requests; a request with none queued gets 500. */
  reply(...replies: Reply[]): void
  close(): Promise<void>
}

const MODEL = 'fake-model'

function chunk(delta: object, finishReason: string | null = null) {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: MODEL,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  }
}

const sse = (data: unknown) => `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`

/** Starts the server on a free port of 127.0.0.1. */
export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const queue: Reply[] = []
  const requests: SeenRequest[] = []
  const server = createServer((req, res) => {
    void handle(req, res)
  })

  async function write(res: ServerResponse, text: string, sizes: number[], at: { n: number }) {
    const bytes = Buffer.from(text, 'utf8')
    for (let i = 0; i < bytes.length; ) {
      const n = sizes[at.n++ % sizes.length]!
      if (res.destroyed) return
      // Each write is one HTTP chunk; waiting for it keeps the pieces apart on the wire.
      await new Promise<void>((r) => res.write(bytes.subarray(i, i + n), () => r()))
      i += n
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    let raw = ''
    for await (const part of req) raw += part
    let onClose!: (v: { finished: boolean }) => void
    const seen: SeenRequest = {
      body: JSON.parse(raw),
      headers: req.headers,
      closed: new Promise((r) => (onClose = r)),
      sent: 0,
    }
    res.on('close', () => onClose({ finished: res.writableFinished }))
    requests.push(seen)
    const reply = queue.shift()
    if (!reply || reply.kind === 'status') {
      const status = reply?.status ?? 500
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (reply?.retryAfter !== undefined) headers['retry-after'] = String(reply.retryAfter)
      res.writeHead(status, headers)
      res.end(
        JSON.stringify({ error: { message: `fake error ${status}`, type: 'server_error', code: status } }),
      )
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    const sizes = reply.bytes ?? [1, 7, 3, 13, 2, 29, 5]
    const deltas = reply.deltas ?? [1, 4, 2, 6, 3]
    const at = { n: 0 }
    await write(res, sse(chunk({ role: 'assistant', content: '' })), sizes, at)
    for (let i = 0, d = 0; i < reply.text.length; d++) {
      if (reply.after === d) {
        if (reply.fault === 'drop') {
          res.socket?.destroy()
          return
        }
        if (reply.fault === 'error-payload')
          await write(
            res,
            sse({ error: { message: 'model overloaded', type: 'server_error', code: 'overloaded' } }),
            sizes,
            at,
          )
        if (reply.fault === 'malformed')
          await write(res, 'data: {"id":"chatcmpl-fake","choices":[{"delta":\n\n', sizes, at)
        // A gate holds the rest back (after the malformed chunk too, so a test sees who closes).
        if (reply.gate) await reply.gate
      }
      const n = deltas[d % deltas.length]!
      await write(res, sse(chunk({ content: reply.text.slice(i, i + n) })), sizes, at)
      seen.sent++
      i += n
    }
    await write(res, sse(chunk({}, reply.finishReason ?? 'stop')), sizes, at)
    if (seen.body.stream_options?.include_usage) {
      const u = reply.usage ?? { prompt_tokens: 11, completion_tokens: 22 }
      await write(
        res,
        sse({
          ...chunk({}),
          choices: [],
          usage: { ...u, total_tokens: u.prompt_tokens + u.completion_tokens },
        }),
        sizes,
        at,
      )
    }
    await write(res, sse('[DONE]'), sizes, at)
    res.end()
  }

  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    reply: (...replies) => queue.push(...replies),
    async close() {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
