/**
 * Load against a real server process for the memory-bound checks (issue 14): many executions
 * started over HTTP with bounded concurrency, watchers that keep only the size of what they
 * receive (a burst of a gigabyte must not be held by the watcher), and the process's RSS as the
 * kernel reports it, peak included. Used by test/hardening/soak and bench/bounds.
 */
import { readFileSync } from 'node:fs'
import WebSocket from 'ws'
import { waitFor } from './wait.ts'

/** Resident memory of process `pid` in bytes: now, and the peak since it started (VmHWM). */
export function processRss(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN)
  return { rss: kib('VmRSS') * 1024, peak: kib('VmHWM') * 1024 }
}

/** POSTs a start of `flow` with `input` (no auth); returns the execution id. */
export async function startExecution(url: string, flow: string, input: unknown): Promise<string> {
  const res = await fetch(`${url}/api/flows/${flow}/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  })
  const body = (await res.json()) as { executionId?: string }
  if (res.status !== 201 || !body.executionId)
    throw new Error(`start ${flow}: ${res.status} ${JSON.stringify(body)}`)
  return body.executionId
}

export interface SoakOptions {
  url: string
  flow: string
  input: unknown
  executions: number
  /** Executions running at once: each worker starts one and waits for its result. */
  concurrency: number
  /** Checked after each execution; true ends the soak early (a bound already broken). */
  stop?: () => boolean
}

/** Runs `executions` executions to their end, `concurrency` at a time; resolves with how many finished. */
export async function soak(o: SoakOptions): Promise<number> {
  let next = 0
  let done = 0
  const worker = async () => {
    while (next < o.executions && !o.stop?.()) {
      next++
      // One retry: a kept-alive connection the server closed just as it was reused resets (not the server's fault).
      const id = await startExecution(o.url, o.flow, o.input).catch(() =>
        startExecution(o.url, o.flow, o.input),
      )
      const res = await fetch(`${o.url}/api/executions/${id}/result?wait=60000`)
      const outcome = (await res.json()) as { status: string }
      if (outcome.status !== 'completed') throw new Error(`execution ${id} ended ${JSON.stringify(outcome)}`)
      done++
    }
  }
  await Promise.all(Array.from({ length: o.concurrency }, worker))
  return done
}

/** What a sizing watcher saw: the largest message, how many, and whether the stream ended. */
export interface SizedWatch {
  largest: number
  messages: number
  bytes: number
  gaps: number
  /** Resolves when the stream ended (stream_end), rejects on a transport error. */
  ended: Promise<void>
  close(): void
}

/** A WebSocket subscriber of `executionId` that keeps only sizes (no frame limit of its own). */
export async function sizedWsWatch(
  url: string,
  executionId: string,
  timeoutMs = 10_000,
): Promise<SizedWatch> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, { maxPayload: 2 ** 31 - 1 })
  const out: SizedWatch = {
    largest: 0,
    messages: 0,
    bytes: 0,
    gaps: 0,
    ended: Promise.resolve(),
    close: () => ws.terminate(),
  }
  let subscribed!: () => void
  const ready = new Promise<void>((r) => {
    subscribed = r
  })
  out.ended = new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      out.messages++
      out.bytes += data.length
      if (data.length > out.largest) out.largest = data.length
      // Only control frames are small enough to parse cheaply; events frames are counted, not read.
      if (data.length > 4096) return
      const frame = JSON.parse(data.toString()) as { type: string }
      if (frame.type === 'hello') ws.send(JSON.stringify({ type: 'subscribe', id: 1, executionId }))
      else if (frame.type === 'subscribed') subscribed()
      else if (frame.type === 'gap') out.gaps++
      else if (frame.type === 'stream_end') resolve()
      else if (frame.type === 'error') reject(new Error(`ws error frame: ${data.toString()}`))
    })
    ws.on('error', reject)
    ws.on('close', (code) => reject(new Error(`ws closed with ${code} before stream_end`)))
  })
  out.ended.catch(() => undefined)
  await waitFor(ready, timeoutMs, 'the subscribe')
  return out
}

/** An SSE reader of `executionId` that keeps only the size of each message (id, event and data lines). */
export async function sizedSseWatch(url: string, executionId: string): Promise<SizedWatch> {
  const ctrl = new AbortController()
  const res = await fetch(`${url}/api/executions/${executionId}/stream`, {
    headers: { accept: 'text/event-stream' },
    signal: ctrl.signal,
  })
  if (!res.ok || !res.body) throw new Error(`SSE: ${res.status}`)
  const out: SizedWatch = {
    largest: 0,
    messages: 0,
    bytes: 0,
    gaps: 0,
    ended: Promise.resolve(),
    close: () => ctrl.abort(),
  }
  const body = res.body
  out.ended = (async () => {
    const reader = body.getReader()
    let pending: Buffer[] = []
    let pendingBytes = 0
    let ended = false
    let lastByte = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      // Messages end at a blank line; sizes are counted in bytes, scanning each chunk once.
      let buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
      // A blank line split across two chunks: the previous one ended in a newline, this one starts with one.
      let split = pendingBytes > 0 && lastByte === 10 && buf[0] === 10
      for (let at = split ? -1 : buf.indexOf('\n\n'); split || at >= 0; at = buf.indexOf('\n\n')) {
        split = false
        const size = pendingBytes + at + 2
        const head = pendingBytes > 0 ? Buffer.concat([...pending, buf.subarray(0, 64)]) : buf.subarray(0, 64)
        out.messages++
        out.bytes += size
        if (size > out.largest) out.largest = size
        const text = head.toString('latin1')
        if (/^event: gap$/m.test(text)) out.gaps++
        if (/^event: stream_end$/m.test(text)) ended = true
        buf = buf.subarray(at + 2)
        pending = []
        pendingBytes = 0
      }
      lastByte = value[value.length - 1] ?? lastByte
      if (buf.length > 0) {
        // Keep only the start of a long message (its event line) and count the rest.
        if (pendingBytes < 64) pending.push(buf.subarray(0, 64))
        pendingBytes += buf.length
      }
    }
    if (!ended) throw new Error('SSE ended before stream_end')
  })()
  out.ended.catch(() => undefined)
  return out
}
