/**
 * The SSE fallback's reader: one execution's `GET /api/executions/:id/stream` read with `fetch`,
 * its messages parsed and checked like socket frames. The URL carries a stream ticket when auth
 * is on (the token itself never goes into a URL). A silent response past `idleMs` counts as a
 * dead link, as on the socket.
 */
import { checkServerFrame, FlowcastError, type ServerFrame } from '@flowcast/protocol'
import { errorOf } from './http.ts'
import type { FetchLike } from './types.ts'

export interface SseOptions {
  url: string
  fetch: FetchLike
  /** Resume after this seq (sent as `Last-Event-ID`). */
  since: number
  /** No byte for this long: the link is dead. */
  idleMs: number
  onFrame(frame: ServerFrame): void
  onBadFrame(err: FlowcastError): void
  /** The response ended (`err` null) or failed; not called after `stop()`. */
  onClose(err: FlowcastError | null): void
}

/** Opens the stream; returns the function that stops it. */
export function openSse(opts: SseOptions): () => void {
  const ctrl = new AbortController()
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const close = (err: FlowcastError | null): void => {
    if (timer !== undefined) clearTimeout(timer)
    if (stopped) return
    stopped = true
    ctrl.abort()
    opts.onClose(err)
  }
  const alive = (): void => {
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(
      () => close(new FlowcastError('timeout', `no byte from the SSE stream within ${opts.idleMs} ms`)),
      opts.idleMs,
    )
  }
  const headers: Record<string, string> = { accept: 'text/event-stream', 'last-event-id': String(opts.since) }
  alive()
  void (async () => {
    const res = await opts.fetch(opts.url, { headers, signal: ctrl.signal, cache: 'no-store' })
    if (!res.ok || !res.body) {
      let body: unknown = null
      try {
        body = JSON.parse(await res.text())
      } catch {
        // not JSON: the status says enough
      }
      return close(errorOf(res.status, body))
    }
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    let buf = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done || stopped) break
      alive()
      buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n')
      for (let at = buf.indexOf('\n\n'); at >= 0; at = buf.indexOf('\n\n')) {
        const block = buf.slice(0, at)
        buf = buf.slice(at + 2)
        // Only `data:` matters: the frame inside names its own type, seqs and execution.
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(line[5] === ' ' ? 6 : 5))
          .join('\n')
        if (data) receive(data)
        if (stopped) return
      }
    }
    close(null)
  })().catch((err) => close(new FlowcastError('connection_closed', 'the SSE stream failed', { cause: err })))

  function receive(data: string): void {
    let raw: unknown
    try {
      raw = JSON.parse(data)
    } catch (err) {
      opts.onBadFrame(
        new FlowcastError('bad_frame', 'received an SSE message that is not JSON', { cause: err }),
      )
      return
    }
    const checked = checkServerFrame(raw)
    if (checked.ok) opts.onFrame(checked.frame)
    else
      opts.onBadFrame(
        new FlowcastError('bad_frame', `received an SSE message that fails the protocol ${checked.error}`),
      )
  }

  return () => {
    if (timer !== undefined) clearTimeout(timer)
    stopped = true
    ctrl.abort()
  }
}
