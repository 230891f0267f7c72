/**
 * Fuzzing the socket edge (fast-check) against a live server with auth on, while a healthy
 * subscriber watches a stream: thousands of arbitrary frames (random bytes, binary and text
 * frames, invalid UTF-8, random JSON, well-shaped frames with wrong values, huge numbers, deep
 * nesting, long strings). Every frame gets exactly one well-formed reply (an `error` that passes
 * the protocol's error frame check, or the reply of a valid request) or a documented close code;
 * every frame the server sends passes checkServerFrame; nothing rejects unhandled; the server serves
 * on and the healthy subscriber receives seq 1..N exactly.
 */
import fc from 'fast-check'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CLIENT_FRAME_TYPES, CloseCode, checkServerFrame } from '../../protocol/index.ts'
import type { FlowcastServer } from '../../server/index.ts'
import { waitFor } from '../helpers/wait.ts'
import { type Frame, range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const API_KEY = 'fuzz-api-key-0123456789abcdef0123'
const SECRET = 'fuzz-secret-0123456789abcdef0123456789ab'
const MAX_PAYLOAD = 8 * 1024

/** Close codes a fuzzed socket may legitimately end with (README: close codes). */
const DOCUMENTED_CLOSES = new Set<number>([
  CloseCode.tooBig, // 1009: a frame over maxPayload
  1007, // a text frame that is not UTF-8 (RFC 6455)
  CloseCode.unauthorized, // 4001: unauthenticated sockets only
  CloseCode.rateLimited, // 4029
])
const REPLY_TYPES = new Set(['error', 'ack', 'subscribed', 'pong'])

const rejections: unknown[] = []
const onRejection = (reason: unknown) => rejections.push(reason)
beforeAll(() => {
  process.on('unhandledRejection', onRejection)
})
afterAll(() => {
  process.off('unhandledRejection', onRejection)
})

const sockets: TestSocket[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
})

/** What goes on the wire: text (a JS string, or raw bytes sent as a text frame) or binary. */
type Wire = { text: string } | { rawText: Uint8Array } | { binary: Uint8Array }

function frameArb(ids: { watched: string; owned: string }): fc.Arbitrary<Wire> {
  const executionId = fc.oneof(
    fc.constant(ids.watched),
    fc.constant(ids.owned),
    fc.string({ maxLength: 40 }),
    fc.string({ minLength: 129, maxLength: 300 }),
    fc.integer(),
    fc.constant(null),
  )
  const number = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.constantFrom(-1, 0.5, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, Number.MAX_SAFE_INTEGER, 1e21),
  )
  const id = fc.oneof(fc.integer(), fc.string({ maxLength: 80 }), number, fc.constant(null), fc.boolean())
  const shaped = fc
    .record(
      {
        type: fc.oneof(fc.constantFrom(...CLIENT_FRAME_TYPES), fc.string({ maxLength: 20 })),
        id,
        executionId,
        since: fc.oneof(number, fc.string({ maxLength: 10 }), fc.constant(null)),
        interruptId: fc.oneof(fc.string({ maxLength: 200 }), number),
        value: fc.jsonValue({ maxDepth: 4 }),
        token: fc.oneof(fc.string({ maxLength: 100 }), fc.constant(API_KEY.slice(2))),
        extra: fc.jsonValue({ maxDepth: 2 }),
      },
      { requiredKeys: ['type'] },
    )
    .map((o) => ({ text: JSON.stringify(o) }))
  // Numbers JSON.stringify never writes: overflow to Infinity, exponents, negative zero.
  const hugeNumbers = fc
    .tuple(
      fc.constantFrom('subscribe', 'unsubscribe', 'stop_stream', 'continue', 'ping'),
      fc.constantFrom(
        '1e400',
        '-1e400',
        '123456789012345678901234567890',
        '-0',
        '1E-400',
        '9007199254740993',
      ),
    )
    .map(([type, n]) => ({
      text: `{"type":"${type}","id":${n},"executionId":"${ids.watched}","since":${n},"interruptId":"i","value":${n}}`,
    }))
  const deep = fc
    .tuple(fc.integer({ min: 1, max: 3900 }), fc.constantFrom('[', '{"a":'))
    .map(([depth, open]) => {
      const close = open === '[' ? ']' : '}'
      return {
        text: `{"type":"continue","id":1,"executionId":"${ids.owned}","interruptId":"x","value":${open.repeat(depth)}1${close.repeat(depth)}}`,
      }
    })
  return fc.oneof(
    { arbitrary: shaped, weight: 6 },
    { arbitrary: fc.json({ maxDepth: 5 }).map((text) => ({ text })), weight: 3 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 300 }).map((text) => ({ text })), weight: 2 },
    { arbitrary: fc.uint8Array({ maxLength: 300 }).map((binary) => ({ binary })), weight: 2 },
    { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 100 }).map((rawText) => ({ rawText })), weight: 1 },
    { arbitrary: hugeNumbers, weight: 2 },
    { arbitrary: deep, weight: 1 },
    {
      arbitrary: fc.string({ minLength: 1000, maxLength: 3 * MAX_PAYLOAD }).map((s) => ({
        text: JSON.stringify({ type: 'ping', id: 1, pad: s }),
      })),
      weight: 1,
    },
  )
}

function send(s: TestSocket, w: Wire): void {
  if ('text' in w) s.send(w.text)
  else if ('rawText' in w) s.send(Buffer.from(w.rawText), { binary: false })
  else s.send(Buffer.from(w.binary), { binary: true })
}

/** Every server frame so far passes the protocol; throws with the first that does not. */
function checkAll(s: TestSocket, from: number): void {
  for (let i = from; i < s.frames.length; i++) {
    const f = s.frames[i]!
    const checked = checkServerFrame(f)
    if (!checked.ok)
      throw new Error(
        `server sent a frame outside the protocol (${checked.error}): ${JSON.stringify(f).slice(0, 300)}`,
      )
  }
}

describe('fuzzed frames at a live server with auth on', () => {
  let server: FlowcastServer
  let watchedId: string
  let ownedId: string
  let viewerAll: string
  let adminOwned: string

  it('every frame gets one well-formed reply or a documented close; the healthy subscriber misses nothing', async () => {
    const gate = new Gate()
    server = await serve({
      gate,
      auth: { apiKey: API_KEY, secret: SECRET },
      // The bucket is tested on its own (limits.test.ts); here every frame must reach the parser.
      limits: { maxPayload: MAX_PAYLOAD, commandsPerSecond: 1e9, rateLimitCloseAfter: 1e9 },
    })
    const N = 3000
    const watched = await start(server, 'ticker', { count: N, every: 1 }, API_KEY)
    const owned = await start(server, 'gated', { before: 1 }, API_KEY)
    watchedId = watched.executionId
    ownedId = owned.executionId
    viewerAll = (await server.mintToken('*', 'viewer'))!
    adminOwned = owned.tokens.admin
    const wsUrl = `${server.url.replace(/^http/, 'ws')}/ws`
    const healthy = new TestSocket(`${wsUrl}?token=${watched.tokens.viewer}`)
    sockets.push(healthy)
    await healthy.next((f) => f.type === 'hello')
    await healthy.subscribe(watchedId)

    const fuzzers: TestSocket[] = []
    const fuzzer = async (k: number): Promise<TestSocket> => {
      const cur = fuzzers[k]
      if (cur && cur.closeCode === undefined) return cur
      const s = new TestSocket(`${wsUrl}?token=${k === 0 ? viewerAll : adminOwned}`)
      sockets.push(s)
      await s.next((f) => f.type === 'hello')
      fuzzers[k] = s
      return s
    }
    let sent = 0
    const closes: number[] = []

    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), frameArb({ watched: watchedId, owned: ownedId })), {
          minLength: 5,
          maxLength: 40,
        }),
        async (batch) => {
          for (const [k, wire] of batch) {
            const s = await fuzzer(k)
            const seen = s.frames.length
            const replies = () => s.frames.slice(seen).filter((f) => REPLY_TYPES.has(f.type))
            send(s, wire)
            sent++
            await s.until(() => replies().length > 0 || s.closeCode !== undefined, 5000, 'a reply or a close')
            checkAll(s, seen)
            if (s.closeCode !== undefined) {
              closes.push(s.closeCode)
              expect(DOCUMENTED_CLOSES.has(s.closeCode)).toBe(true)
              continue
            }
            const [reply] = replies() as [Frame]
            if (reply.type === 'error')
              expect(checkServerFrame(reply)).toMatchObject({ ok: true, frame: { type: 'error' } })
          }
        },
      ),
      { numRuns: 250, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
    )

    // And sockets that never authenticated: whatever their first frame, they end with 4001 unseen.
    await fc.assert(
      fc.asyncProperty(frameArb({ watched: watchedId, owned: ownedId }), async (wire) => {
        const s = new TestSocket(wsUrl)
        sockets.push(s)
        await waitFor(new Promise((r) => s.ws.once('open', r)), 5000, 'open')
        send(s, wire)
        sent++
        const code = await waitFor(s.closed, 5000, 'the close')
        expect([CloseCode.unauthorized, CloseCode.tooBig, 1007]).toContain(code)
        expect(s.frames).toEqual([])
      }),
      { numRuns: 40 },
    )

    expect(sent).toBeGreaterThan(2000)
    expect(rejections).toEqual([])
    // The server serves on, and the healthy subscriber got every seq exactly once.
    expect((await getJson(`${server.url}/healthz`)).status).toBe(200)
    await healthy.streamEnd(watchedId, 20_000)
    expect(healthy.seqs(watchedId)).toEqual(range(1, N))
    expect(healthy.ofType('error')).toEqual([])
    expect(healthy.closeCode).toBeUndefined()
    gate.open()
    const byCode: Record<number, number> = {}
    for (const c of closes) byCode[c] = (byCode[c] ?? 0) + 1
    console.info(`fuzz: ${sent} frames; closes by code ${JSON.stringify(byCode)}`)
  }, 60_000)
})
