/**
 * The room's hot path, driven directly: a real execution through the MemoryBroker, peers whose
 * queue size the test controls. Covers the shared frame, subscribe among unflushed appends,
 * slow-consumer pause / catch-up / gap / 4008, and the order of events, status and stream_end.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type RuntimeData, TriggerFlow } from '../../flows/index.ts'
import { MemoryBroker } from '../../server/brokers/memory.ts'
import type { OutFrame } from '../../server/fanout/frame.ts'
import type { Peer } from '../../server/fanout/member.ts'
import { Room } from '../../server/fanout/room.ts'
import { DEFAULT_LIMITS, type ServerLimits } from '../../server/options.ts'
import { wsBytes } from '../../server/ws/framing.ts'
import { until } from '../helpers/wait.ts'
import { range } from '../helpers/ws-client.ts'

class FakePeer implements Peer {
  bufferedAmount = 0
  open = true
  frames: OutFrame[] = []
  closedWith: number | undefined
  send(frame: OutFrame): void {
    // Presence is throttled on a timer; the tests here are about the stream.
    if (frame.event !== 'presence') this.frames.push(frame)
  }
  close(code: number): void {
    this.closedWith = code
    this.open = false
  }
  parsed(): any[] {
    return this.frames.map((f) => JSON.parse(f.json))
  }
  seqs(): number[] {
    const out: number[] = []
    for (const f of this.parsed()) {
      if (f.type === 'event') out.push(f.seq)
      if (f.type === 'events') for (const it of f.items) out.push(it.seq)
    }
    return out
  }
  types(): string[] {
    return this.parsed().map((f) => f.type)
  }
}

/** A flow whose stream the test writes into, and which ends when the test says. */
function controlled() {
  let data: RuntimeData | undefined
  let finish!: () => void
  const done = new Promise<void>((r) => {
    finish = r
  })
  const flow = new TriggerFlow({ name: 'controlled' })
  flow
    .to(
      flow.chunk('run', async (d) => {
        data = d
        await done
        return 'ok'
      }),
    )
    .end()
  return {
    flow,
    put(n: number): void {
      for (let i = 0; i < n; i++) void data!.putIntoStream({ i })
    },
    finish,
    ready: () => data !== undefined,
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r))
const brokers: MemoryBroker[] = []
const rooms: Room[] = []
afterEach(async () => {
  for (const r of rooms.splice(0)) r.dispose()
  await Promise.all(brokers.splice(0).map((b) => b.close()))
})

async function setup(
  limits: Partial<ServerLimits> = {},
  retention = { maxEvents: 10_000, maxBytes: 1 << 24 },
) {
  const broker = new MemoryBroker()
  brokers.push(broker)
  const c = controlled()
  const info = await broker.start(c.flow, undefined, { retention })
  await until(c.ready)
  const follower = (await broker.follow(info.executionId))!
  const room = new Room(follower, { ...DEFAULT_LIMITS, drainCheckMs: 5, ...limits }, () => undefined)
  rooms.push(room)
  return { c, room, executionId: info.executionId }
}

describe('room', () => {
  it('sends one frame per flush, the same bytes to every live peer', async () => {
    const { c, room } = await setup()
    const peers = [new FakePeer(), new FakePeer(), new FakePeer()]
    for (const p of peers) room.subscribe(p, 0)
    c.put(5)
    expect(peers[0]!.frames).toEqual([]) // nothing before the tick's flush
    await tick()
    const frame = peers[0]!.frames[0]!
    for (const p of peers) {
      expect(p.frames).toHaveLength(1)
      expect(p.frames[0]).toBe(frame)
    }
    expect(wsBytes(frame)).toBe(wsBytes(frame)) // encoded once, cached
    const parsed = JSON.parse(frame.json)
    expect(parsed.type).toBe('events')
    expect(parsed.items.map((i: { seq: number }) => i.seq)).toEqual(range(1, 5))
    c.put(1)
    await tick()
    expect(JSON.parse(peers[1]!.frames[1]!.json)).toMatchObject({ type: 'event', seq: 6, data: { i: 0 } })
  })

  it('subscribe among appended-but-unflushed events: no hole, no repeat', async () => {
    const { c, room } = await setup()
    const a = new FakePeer()
    room.subscribe(a, 0)
    c.put(3) // pending: seqs 1..3 not flushed yet
    const b = new FakePeer()
    room.subscribe(b, 2) // since inside the pending range
    const d = new FakePeer()
    room.subscribe(d, 0)
    c.put(4)
    await tick()
    c.put(2)
    await tick()
    expect(a.seqs()).toEqual(range(1, 9))
    expect(b.seqs()).toEqual(range(3, 9))
    expect(d.seqs()).toEqual(range(1, 9))
  })

  it('pauses a slow peer, catches it up in bounded batches, and puts it back live', async () => {
    const { c, room } = await setup({ highWaterMark: 100, catchUpBatch: 4 })
    const healthy = new FakePeer()
    const slow = new FakePeer()
    room.subscribe(healthy, 0)
    room.subscribe(slow, 0)
    slow.bufferedAmount = 1000
    c.put(10)
    await tick()
    c.put(10)
    await tick()
    expect(healthy.seqs()).toEqual(range(1, 20))
    expect(slow.frames).toEqual([]) // nothing queued for it while paused
    expect(room.catchingUp).toBe(1)
    slow.bufferedAmount = 0
    await until(() => room.catchingUp === 0, 2000, 'catch-up')
    expect(slow.seqs()).toEqual(range(1, 20))
    expect(slow.frames.length).toBe(5) // 20 events in batches of 4
    c.put(3)
    await tick()
    expect(slow.frames.at(-1)).toBe(healthy.frames.at(-1)) // back on the shared frame
    expect(slow.seqs()).toEqual(range(1, 23))
  })

  it('a peer that fell behind retention gets a gap, then the rest', async () => {
    const { c, room } = await setup({ highWaterMark: 100 }, { maxEvents: 10, maxBytes: 1 << 20 })
    const slow = new FakePeer()
    room.subscribe(slow, 0)
    slow.bufferedAmount = 1000
    c.put(30)
    await tick()
    slow.bufferedAmount = 0
    await until(() => room.catchingUp === 0, 2000, 'catch-up')
    const frames = slow.parsed()
    expect(frames[0]).toMatchObject({ type: 'gap', from: 1, to: 20 })
    expect(slow.seqs()).toEqual(range(21, 30))
  })

  it('closes a peer stuck above the high-water mark with 4008; others go on', async () => {
    const { c, room } = await setup({ highWaterMark: 100, slowConsumerTimeoutMs: 40 })
    const healthy = new FakePeer()
    const stuck = new FakePeer()
    room.subscribe(healthy, 0)
    room.subscribe(stuck, 0)
    stuck.bufferedAmount = 10_000
    c.put(2)
    await tick()
    await until(() => stuck.closedWith !== undefined, 2000, '4008')
    expect(stuck.closedWith).toBe(4008)
    expect(room.has(stuck)).toBe(false)
    c.put(2)
    await tick()
    expect(healthy.seqs()).toEqual(range(1, 4))
  })

  it('status follows the events before it; stream_end comes last, also for a peer catching up', async () => {
    const { c, room } = await setup({ highWaterMark: 100 })
    const live = new FakePeer()
    const slow = new FakePeer()
    room.subscribe(live, 0)
    room.subscribe(slow, 0)
    slow.bufferedAmount = 1000
    c.put(3)
    c.finish()
    await until(() => live.types().includes('stream_end'), 2000, 'stream_end')
    expect(live.types()).toEqual(['events', 'status', 'stream_end'])
    expect(live.parsed()[1]).toMatchObject({ status: 'completed' })
    // Behind the head, the status waits for the events before it.
    expect(slow.types()).toEqual([])
    slow.bufferedAmount = 0
    await until(() => slow.types().includes('stream_end'), 2000, 'slow stream_end')
    expect(slow.types()).toEqual(['events', 'status', 'stream_end'])
    expect(slow.parsed()[1]).toMatchObject({ status: 'completed' })
    expect(slow.seqs()).toEqual([1, 2, 3])
    // A subscriber after the end: retained events, then stream_end.
    const late = new FakePeer()
    room.subscribe(late, 1)
    expect(late.seqs()).toEqual([2, 3])
    expect(late.types().at(-1)).toBe('stream_end')
  })
})
