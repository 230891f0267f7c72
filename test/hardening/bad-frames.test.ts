/**
 * Issue 14 point 4: a frame without a usable `type` is a client mistake — `unknown_type` (with its
 * `id` when it had one), never `internal`, never an error-level log line — and a fuzz run of
 * 100,000 random, mutated and structured frames from several sockets leaves 50 watchers exact.
 */
import fc from 'fast-check'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, serve, start } from '../server/fixtures.ts'

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

/** A pino logger that keeps every line, to count the error-level ones. */
function capturedLogger() {
  const lines: { level: number; msg: string }[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  return { logger, errors: () => lines.filter((l) => l.level >= 50) }
}

describe('frames without a usable type', () => {
  it('answer unknown_type with their id, not internal, and log no error', async () => {
    const { logger, errors } = capturedLogger()
    const server = await serve({ logger })
    const s = await TestSocket.open(server.url)
    sockets.push(s)
    const cases: [string, number | undefined][] = [
      ['{}', undefined],
      ['{"id":7}', 7],
      ['{"id":"a","type":{"nested":{"type":"subscribe"}}}', 'a' as never],
      ['{"id":8,"type":null}', 8],
      ['{"id":9,"type":["ping"]}', 9],
    ]
    for (const [i, [text, id]] of cases.entries()) {
      s.send(text)
      const reply = await s.until(() => s.ofType('error')[i], 5000, `the reply to ${text}`)
      expect(reply.code, text).toBe('unknown_type')
      expect(reply.id, text).toBe(id)
    }
    expect((await s.request({ type: 'ping' })).type).toBe('pong')
    expect(errors()).toEqual([])
  })
})

describe('fuzz', () => {
  it('100,000 frames from 4 sockets: 0 internal, 0 error lines, 50/50 watchers exact', async () => {
    const { logger, errors } = capturedLogger()
    const gate = new Gate()
    const server = await serve({
      gate,
      logger,
      limits: { commandsPerSecond: 1_000_000, maxSubscriptions: 64 },
    })
    const { executionId } = await start(server, 'gated', { before: 20, after: 30 })
    // The fuzzers aim at another execution: a valid stop_stream there is allowed (auth is off).
    const { executionId: target } = await start(server, 'gated', { before: 5, after: 5 })
    const watchers = await Promise.all(Array.from({ length: 50 }, () => TestSocket.open(server.url)))
    const fuzzers = await Promise.all(Array.from({ length: 4 }, () => TestSocket.open(server.url)))
    sockets.push(...watchers, ...fuzzers)
    await Promise.all(watchers.map((w) => w.subscribe(executionId)))

    const structured = fc.record(
      {
        type: fc.oneof(
          fc.constantFrom('subscribe', 'unsubscribe', 'stop_stream', 'continue', 'ping', 'auth'),
          fc.anything(),
        ),
        id: fc.oneof(fc.integer(), fc.string(), fc.anything()),
        executionId: fc.oneof(fc.constant(target), fc.string(), fc.anything()),
        since: fc.oneof(fc.integer(), fc.double(), fc.anything()),
        interruptId: fc.anything(),
        value: fc.anything(),
      },
      { requiredKeys: [] },
    )
    const frame = fc.oneof(
      structured.map((o) => JSON.stringify(o) ?? '{}'),
      fc.json(),
      fc.string(),
      structured.chain((o) =>
        fc.nat().map((cut) => {
          const text = JSON.stringify(o) ?? '{}'
          return text.slice(0, cut % (text.length + 1))
        }),
      ),
    )
    const per = 25_000
    const samples = fuzzers.map((_, i) => fc.sample(frame, { numRuns: per, seed: 14 + i }))
    // Sent in slices, so the sockets' buffers stay small and the watchers' stream goes on meanwhile.
    for (let from = 0; from < per; from += 2500) {
      for (const [i, f] of fuzzers.entries())
        for (const text of samples[i]!.slice(from, from + 2500)) f.send(text)
      if (from === 12_500) gate.open()
      // One ping per fuzzer marks the end of the slice: everything before it was answered.
      await Promise.all(fuzzers.map((f) => f.request({ type: 'ping' }, 60_000)))
    }
    await Promise.all(watchers.map((w) => w.streamEnd(executionId, 30_000)))
    for (const w of watchers) {
      expect(w.seqs(executionId)).toEqual(range(1, 50))
      expect(w.ofType('error')).toEqual([])
    }
    const internal = fuzzers.flatMap((f) => f.ofType('error').filter((e) => e.code === 'internal'))
    expect(internal).toEqual([])
    expect(errors()).toEqual([])
    for (const f of fuzzers) expect(f.closeCode).toBeUndefined()
  }, 180_000)
})
