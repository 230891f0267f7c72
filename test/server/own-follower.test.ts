/**
 * A room on the node that ran an execution, after the node lost it (redis/own-follower.ts): the
 * room goes on from the execution's log after the last seq it told, with no gap and no repeat;
 * what the local copy did while the node was unsure never reaches it; what was told before and
 * is not the log's is announced to the members that got it (`error` node_lost), never silently
 * mixed in. The two logs are followers the test feeds (test/helpers/room-doubles.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { OwnFollower } from '../../server/brokers/redis/own-follower.ts'
import { Room } from '../../server/fanout/room.ts'
import { DEFAULT_LIMITS } from '../../server/options.ts'
import { FedFollower, RecordingPeer } from '../helpers/room-doubles.ts'
import { until } from '../helpers/wait.ts'
import { range } from '../helpers/ws-client.ts'

/** One copy of the execution's log: `run` names whose items these are (the JSON tells them apart). */
class Log extends FedFollower {
  constructor() {
    super('x-own')
  }
  put(run: string, ...seqs: number[]): void {
    for (const seq of seqs) this.feed({ seq, json: `{"seq":${seq},"data":{"run":"${run}"}}` })
  }
}

class FakePeer extends RecordingPeer {
  /** Events as `seq:run`, and the other frames by type, in the order sent. */
  story(): string[] {
    const out: string[] = []
    for (const f of this.frames.map((x) => JSON.parse(x.json))) {
      if (f.type === 'event') out.push(`${f.seq}:${f.data.run}`)
      else if (f.type === 'events') for (const it of f.items) out.push(`${it.seq}:${it.data.run}`)
      else if (f.type === 'gap') out.push(`gap ${f.from}..${f.to}`)
      else if (f.type === 'status') out.push(`status ${f.status}`)
      else if (f.type === 'stream_end') out.push(`end ${f.reason} ${f.lastSeq}`)
      else if (f.type === 'error') out.push(`error ${f.code}: ${f.message}`)
    }
    return out
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r))
const rooms: Room[] = []
afterEach(() => {
  for (const r of rooms.splice(0)) r.dispose()
})

function setup(): { local: Log; redis: Log; own: OwnFollower; unsure: { now: boolean }; peer: FakePeer } {
  const local = new Log()
  const redis = new Log()
  const unsure = { now: false }
  const own = new OwnFollower(local, {
    unsure: () => unsure.now,
    onHold: () => undefined,
    onRelease: () => undefined,
  })
  const room = new Room(own, { ...DEFAULT_LIMITS, drainCheckMs: 5 }, () => undefined)
  rooms.push(room)
  const peer = new FakePeer()
  room.subscribe(peer, 0)
  return { local, redis, own, unsure, peer }
}

const items = (run: string, from: number, to: number) => range(from, to).map((s) => `${s}:${run}`)

describe('own follower: a room of the node that lost its execution', () => {
  it('what the local copy put while the node was unsure is never told; the room goes on from the log', async () => {
    const { local, redis, own, unsure, peer } = setup()
    local.put('a', 1, 2, 3)
    redis.put('a', 1, 2, 3)
    await tick()
    unsure.now = true
    local.put('a', 4, 5)
    local.setStatus('completed')
    await tick()
    own.recheck()
    expect(peer.story()).toEqual(items('a', 1, 3))
    expect(own.lastSeq).toBe(3)

    own.leave()
    unsure.now = false
    local.put('a', 6)
    redis.put('b', 4, 5, 6)
    own.switchTo(redis, 3)
    expect(local.released).toBe(true)
    redis.put('b', 7, 8)
    redis.setStatus('completed')
    redis.close('completed')
    await tick()
    expect(peer.story()).toEqual([
      ...items('a', 1, 3),
      ...items('b', 4, 8),
      'status completed',
      'end completed 8',
    ])
  })

  it('held news is told in order once the node is sure again', async () => {
    const { local, own, unsure, peer } = setup()
    unsure.now = true
    local.put('a', 1, 2)
    local.setStatus('waiting')
    local.put('a', 3)
    await tick()
    expect(peer.story()).toEqual([])
    unsure.now = false
    own.recheck()
    await tick()
    expect(peer.story()).toEqual(['1:a', '2:a', 'status waiting', '3:a'])
  })

  it('seqs told before and not the log`s are announced to whoever got them, then the log goes on after them', async () => {
    const { local, redis, own, peer } = setup()
    local.put('a', 1, 2, 3, 4, 5)
    redis.put('a', 1, 2, 3)
    redis.put('b', 4, 5, 6, 7)
    await tick()
    own.leave()
    own.switchTo(redis, 2)
    redis.setStatus('completed')
    redis.close('completed')
    await tick()
    const story = peer.story()
    expect(story.filter((s) => !s.startsWith('error'))).toEqual([
      ...items('a', 1, 5),
      ...items('b', 6, 7),
      'status completed',
      'end completed 7',
    ])
    const errors = story.filter((s) => s.startsWith('error'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(
      /^error node_lost: execution x-own: the items of seqs 4\.\.5 came from this node/,
    )
    expect(errors[0]).toContain('since 3')
    expect(story.indexOf(errors[0]!)).toBe(5)
  })

  it('a member that had not read the diverged seqs yet reads the log`s and is told nothing', async () => {
    const { local, redis, own } = setup()
    local.put('a', 1, 2, 3, 4)
    redis.put('a', 1, 2)
    redis.put('b', 3, 4, 5)
    await tick()
    const room = rooms[0]!
    const late = new FakePeer()
    late.bufferedAmount = 1 << 30
    room.subscribe(late, 0)
    own.leave()
    own.switchTo(redis, 2)
    late.bufferedAmount = 0
    redis.close('completed')
    await until(() => late.story().some((s) => s.startsWith('end')), 5000, 'the late member to reach the end')
    expect(late.story()).toEqual([...items('a', 1, 2), ...items('b', 3, 5), 'end completed 5'])
  })
})
