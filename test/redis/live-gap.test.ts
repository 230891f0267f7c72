/**
 * A Redis follower that skips seqs: node A bursts more events in one tick than its retention
 * holds, so its one write per tick carries only the retained tail and the stream on Redis jumps.
 * B's live subscribers (WebSocket through the SDK, and SSE) must see that hole announced by `gap`,
 * in order, with no repeat; A's own subscriber, served from memory, gets every event.
 */
import { afterEach, expect, it } from 'vitest'
import type { FlowcastClient } from '../../client-sdk/index.ts'
import { TriggerFlow } from '../../flows/index.ts'
import { type FlowcastServer, startServer } from '../../server/index.ts'
import { readSse, type SseRead } from '../helpers/sse-client.ts'
import { until } from '../helpers/wait.ts'
import { describeRedis, dropPrefix, newPrefix, REDIS_URL, range, sdkClient, startOn } from './env.ts'

const servers: FlowcastServer[] = []
const clients: FlowcastClient[] = []
const sse: SseRead[] = []
const prefixes: string[] = []

afterEach(async () => {
  for (const s of sse.splice(0)) s.abort()
  for (const c of clients.splice(0)) c.close()
  for (const s of servers.splice(0)) await s.close()
  for (const p of prefixes.splice(0)) await dropPrefix(REDIS_URL, p)
})

const RETAINED = 5
const BEFORE = 6
const BURST = 20
const AFTER = 4
const N = BEFORE + BURST + AFTER

/**
 * Puts BEFORE events one by one, then BURST in one synchronous step, then AFTER one by one;
 * after each step it waits (bounded) until `seen(seq)` says the subscribers are live at seq.
 */
function burstyFlow(seen: (seq: number) => boolean) {
  const flow = new TriggerFlow({ name: 'bursty' })
  flow
    .to(
      flow.chunk('run', async (d) => {
        let seq = 0
        const step = async () => until(() => seen(seq), 10_000, `subscribers at seq ${seq}`)
        for (let i = 0; i < BEFORE; i++) {
          void d.putIntoStream({ n: ++seq })
          await step()
        }
        for (let i = 0; i < BURST; i++) void d.putIntoStream({ n: ++seq })
        await step()
        for (let i = 0; i < AFTER; i++) {
          void d.putIntoStream({ n: ++seq })
          await step()
        }
        return seq
      }),
    )
    .end()
  return flow
}

/** An SDK subscription told as one ordered story: seqs, `gap a..b`, statuses, the end. */
function story(client: FlowcastClient, executionId: string) {
  const out: (number | string)[] = []
  const errors: unknown[] = []
  let last = 0
  let ended = false
  client.subscribe(executionId, {
    onEvent: (e) => {
      out.push(e.seq)
      last = e.seq
    },
    onGap: (g) => {
      out.push(`gap ${g.from}..${g.to}`)
      last = g.to
    },
    onError: (err) => errors.push(err),
    onEnd: (info) => {
      out.push(`end ${info.reason} ${info.lastSeq}`)
      ended = true
    },
  })
  return { out, errors, last: () => last, ended: () => ended }
}

/** What an SSE subscriber was told, in the same notation. */
function sseStory(read: SseRead): (number | string)[] {
  const out: (number | string)[] = []
  for (const m of read.messages) {
    const f = JSON.parse(m.data)
    if (m.event === 'event') out.push(f.seq)
    if (m.event === 'events') for (const it of f.items) out.push(it.seq)
    if (m.event === 'gap') out.push(`gap ${f.from}..${f.to}`)
    if (m.event === 'stream_end') out.push(`end ${f.reason} ${f.lastSeq}`)
  }
  return out
}

function sseLast(read: SseRead): number {
  const ids = read.messages.filter((m) => m.id !== undefined).map((m) => Number(m.id))
  return ids.length === 0 ? 0 : Math.max(...ids)
}

describeRedis('redis: a follower that skips seqs', () => {
  it("B's live subscribers get seqs 1..k, gap {k+1..m-1}, seqs m..N, exactly once; A's get 1..N", async () => {
    const prefix = newPrefix()
    prefixes.push(prefix)
    let watchers: { last: () => number }[] = []
    const seen = (seq: number) => watchers.length === 3 && watchers.every((w) => w.last() >= seq)
    const limits = { retainedEvents: RETAINED }
    const node = async () => {
      const s = await startServer({
        port: 0,
        auth: 'off',
        redisUrl: REDIS_URL,
        keyPrefix: prefix,
        limits,
        flows: [burstyFlow(seen)],
      })
      servers.push(s)
      return s
    }
    const a = await node()
    const b = await node()
    const id = await startOn(a.url, 'bursty', undefined)
    const client = (url: string) => clients[clients.push(sdkClient([url])) - 1]!
    const onA = story(client(a.url), id)
    const onB = story(client(b.url), id)
    const viaSse = await readSse(`${b.url}/api/executions/${id}/stream`)
    sse.push(viaSse)
    watchers = [onA, onB, { last: () => sseLast(viaSse) }]
    await until(() => onA.ended() && onB.ended(), 20_000, 'stream_end on A and B')
    await viaSse.done

    // The burst reached Redis as its retained tail only: B learns of the rest as a gap.
    const m = BEFORE + BURST - RETAINED + 1
    const expected = [
      ...range(1, BEFORE),
      `gap ${BEFORE + 1}..${m - 1}`,
      ...range(m, N),
      `end completed ${N}`,
    ]
    expect(onB.out).toEqual(expected)
    expect(sseStory(viaSse)).toEqual(expected)
    expect(onB.errors).toEqual([])
    // A serves its own subscribers from memory: nothing was lost there.
    expect(onA.out).toEqual([...range(1, N), `end completed ${N}`])
    expect(onA.errors).toEqual([])
  })
})
