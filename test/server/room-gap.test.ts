/**
 * The room never sends a discontinuous sequence: when its follower skips seqs (a Redis follower
 * after events were lost), live members get `gap` before the events after the hole, over the
 * WebSocket frames and the SSE bytes alike; catching-up members read the same gap from the log.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Room } from '../../server/fanout/room.ts'
import { sseBytes } from '../../server/http/sse.ts'
import { DEFAULT_LIMITS } from '../../server/options.ts'
import { FedFollower, RecordingPeer } from '../helpers/room-doubles.ts'
import { until } from '../helpers/wait.ts'
import { range } from '../helpers/ws-client.ts'

/** A follower the test feeds seq by seq, holes included. */
class SkippingFollower extends FedFollower {
  constructor() {
    super('x-gap')
  }
  append(...seqs: number[]): void {
    for (const seq of seqs) this.feed({ seq, json: `{"seq":${seq},"data":{"n":${seq}}}` })
  }
}

class FakePeer extends RecordingPeer {
  /** Events as seqs and gaps as `gap a..b`, in the order sent. */
  story(): (number | string)[] {
    const out: (number | string)[] = []
    for (const f of this.frames.map((x) => JSON.parse(x.json))) {
      if (f.type === 'event') out.push(f.seq)
      if (f.type === 'events') for (const it of f.items) out.push(it.seq)
      if (f.type === 'gap') out.push(`gap ${f.from}..${f.to}`)
      if (f.type === 'stream_end') out.push(`end ${f.reason} ${f.lastSeq}`)
    }
    return out
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r))
const rooms: Room[] = []
afterEach(() => {
  for (const r of rooms.splice(0)) r.dispose()
})

function setup(): { follower: SkippingFollower; room: Room } {
  const follower = new SkippingFollower()
  const room = new Room(follower, { ...DEFAULT_LIMITS, drainCheckMs: 5 }, () => undefined)
  rooms.push(room)
  return { follower, room }
}

describe('room: a follower that skips seqs', () => {
  it('live members get gap {head+1..first-1} before the events after the hole, in separate flushes', async () => {
    const { follower, room } = setup()
    const peers = [new FakePeer(), new FakePeer()]
    for (const p of peers) room.subscribe(p, 0)
    follower.append(...range(1, 5))
    await tick()
    follower.append(...range(12, 15))
    await tick()
    follower.append(16)
    await tick()
    const expected = [...range(1, 5), 'gap 6..11', ...range(12, 16)]
    for (const p of peers) expect(p.story()).toEqual(expected)
    // One gap frame, the same for every live member.
    const gap = peers[0]!.frames.find((f) => f.event === 'gap')!
    expect(peers[1]!.frames).toContain(gap)
    expect(gap.lastSeq).toBe(11)
  })

  it('a hole inside one flush splits it: events, gap, events; then the stream_end', async () => {
    const { follower, room } = setup()
    const p = new FakePeer()
    room.subscribe(p, 0)
    follower.append(1, 2, 3)
    follower.append(7, 8)
    follower.append(20)
    await tick()
    follower.close('completed', 20)
    expect(p.story()).toEqual([1, 2, 3, 'gap 4..6', 7, 8, 'gap 9..19', 20, 'end completed 20'])
  })

  it('SSE members get the named gap event with its id, between the events', async () => {
    const { follower, room } = setup()
    const p = new FakePeer()
    room.subscribe(p, 0)
    follower.append(1, 2)
    await tick()
    follower.append(9)
    await tick()
    const sse = p.frames.map((f) => sseBytes(f).toString('utf8')).join('')
    expect(sse).toContain('id: 8\nevent: gap\ndata: {"type":"gap","executionId":"x-gap","from":3,"to":8}\n\n')
    expect(sse.indexOf('event: gap')).toBeLessThan(sse.indexOf('id: 9\nevent: event'))
  })

  it('a member paused at the hole reads the same gap from the log when it drains', async () => {
    const { follower, room } = setup()
    const slow = new FakePeer()
    const fast = new FakePeer()
    room.subscribe(slow, 0)
    room.subscribe(fast, 0)
    follower.append(1, 2, 3)
    await tick()
    slow.bufferedAmount = DEFAULT_LIMITS.highWaterMark + 1
    follower.append(10, 11)
    await tick()
    expect(room.catchingUp).toBe(1)
    slow.bufferedAmount = 0
    await until(() => room.catchingUp === 0, 2000, 'the paused member to drain')
    follower.append(12)
    await tick()
    for (const p of [slow, fast]) expect(p.story()).toEqual([1, 2, 3, 'gap 4..9', 10, 11, 12])
  })

  it('a close that counts events this node never received ends with a gap, then stream_end', async () => {
    const { follower, room } = setup()
    const p = new FakePeer()
    room.subscribe(p, 0)
    follower.append(1, 2)
    await tick()
    follower.close('failed', 5)
    expect(p.story()).toEqual([1, 2, 'gap 3..5', 'end failed 5'])
    const late = new FakePeer()
    room.subscribe(late, 0)
    expect(late.story()).toEqual([1, 2, 'gap 3..5', 'end failed 5'])
  })
})
