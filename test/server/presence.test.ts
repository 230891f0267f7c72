/**
 * Presence across many rooms (issue 18): rooms whose members all join at once come due together,
 * and the server's one presence ticker sends their frames in batches of `presenceFramesPerTick`
 * with event-loop turns between them, never every room's frames in one run of the loop. Turns are
 * counted by a setImmediate chain (one count per check phase), so the test measures how many frames
 * went out with no I/O in between, with no clock.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TriggerFlow } from '../../flows/index.ts'
import { MemoryBroker } from '../../server/brokers/memory.ts'
import type { OutFrame } from '../../server/fanout/frame.ts'
import type { Peer } from '../../server/fanout/member.ts'
import { Rooms } from '../../server/fanout/rooms.ts'
import { DEFAULT_LIMITS } from '../../server/options.ts'
import { until } from '../helpers/wait.ts'

/** Counts event-loop turns: one per check phase while running. */
class Turns {
  n = 0
  #on = true
  #immediate: ReturnType<typeof setImmediate> | undefined
  constructor() {
    const step = () => {
      this.n++
      if (this.#on) this.#immediate = setImmediate(step)
    }
    this.#immediate = setImmediate(step)
  }
  stop(): void {
    this.#on = false
    if (this.#immediate) clearImmediate(this.#immediate)
  }
}

class CountingPeer implements Peer {
  bufferedAmount = 0
  open = true
  presence: number[] = []
  constructor(
    readonly turns: Turns,
    readonly perTurn: Map<number, number>,
  ) {}
  send(frame: OutFrame): void {
    if (frame.event !== 'presence') return
    this.presence.push(JSON.parse(frame.json).subscribers)
    this.perTurn.set(this.turns.n, (this.perTurn.get(this.turns.n) ?? 0) + 1)
  }
  close(): void {
    this.open = false
  }
}

function held() {
  let release!: () => void
  const done = new Promise<void>((r) => {
    release = r
  })
  const flow = new TriggerFlow({ name: 'held' })
  flow
    .to(
      flow.chunk('run', async () => {
        await done
        return 'ok'
      }),
    )
    .end()
  return { flow, release }
}

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function hub(framesPerTick: number, executions: number) {
  const broker = new MemoryBroker()
  const h = held()
  cleanups.push(() => broker.close())
  cleanups.push(() => h.release())
  const ids: string[] = []
  for (let i = 0; i < executions; i++)
    ids.push(
      (await broker.start(h.flow, undefined, { retention: { maxEvents: 100, maxBytes: 1 << 20 } }))
        .executionId,
    )
  const rooms = new Rooms(
    broker,
    { ...DEFAULT_LIMITS, presenceFramesPerTick: framesPerTick },
    () => undefined,
  )
  cleanups.push(() => rooms.close())
  const turns = new Turns()
  cleanups.push(() => turns.stop())
  return { rooms, ids, turns, perTurn: new Map<number, number>() }
}

describe('presence across rooms', () => {
  it('rooms joined at once: no event-loop turn sends more than presenceFramesPerTick frames; each member gets the final count once', async () => {
    const budget = 40
    const R = 30
    const M = 10
    const { rooms, ids, turns, perTurn } = await hub(budget, R)
    const peers: CountingPeer[] = []
    // Every member of every room joins in the same synchronous run, as in a connect storm.
    await Promise.all(
      ids.flatMap((id) =>
        Array.from({ length: M }, () => {
          const p = new CountingPeer(turns, perTurn)
          peers.push(p)
          return rooms.enter(id, (room) => room.subscribe(p, 0))
        }),
      ),
    )
    await until(() => peers.every((p) => p.presence.length > 0), 10_000, 'presence to every member')
    const total = [...perTurn.values()].reduce((a, b) => a + b, 0)
    expect(total).toBe(R * M)
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(budget)
    for (const p of peers) expect(p.presence).toEqual([M])
  })

  it('one room larger than the budget is sent in slices: every member once, with the count', async () => {
    const budget = 7
    const M = 50
    const { rooms, ids, turns, perTurn } = await hub(budget, 1)
    const peers = Array.from({ length: M }, () => new CountingPeer(turns, perTurn))
    await Promise.all(peers.map((p) => rooms.enter(ids[0]!, (room) => room.subscribe(p, 0))))
    await until(() => peers.every((p) => p.presence.length > 0), 10_000, 'presence to every member')
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(budget)
    expect(perTurn.size).toBeGreaterThanOrEqual(Math.ceil(M / budget))
    for (const p of peers) expect(p.presence).toEqual([M])
  })

  it('a member who leaves while its room is being sent in slices gets nothing more; a later change still goes out', async () => {
    const { rooms, ids, turns, perTurn } = await hub(3, 1)
    const peers = Array.from({ length: 9 }, () => new CountingPeer(turns, perTurn))
    await Promise.all(peers.map((p) => rooms.enter(ids[0]!, (room) => room.subscribe(p, 0))))
    // The last member leaves as the first slice goes out, before its own slice.
    const last = peers.at(-1)!
    const first = peers[0]!
    const send = first.send.bind(first)
    first.send = (frame) => {
      send(frame)
      if (rooms.get(ids[0]!)?.has(last)) rooms.get(ids[0]!)!.unsubscribe(last)
    }
    await until(() => peers.slice(0, 8).every((p) => p.presence.at(-1) === 8), 10_000, 'the count of 8')
    expect(last.presence).toEqual([])
    for (const p of peers.slice(0, 8)) expect(p.presence.filter((n) => n === 9).length).toBeLessThanOrEqual(1)
  })
})
