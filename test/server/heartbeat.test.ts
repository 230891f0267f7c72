/**
 * The heartbeat's schedule: every socket is visited once per interval, a slice per tick, so no
 * single tick walks all of them; a socket that did not answer is terminated at its next visit.
 * (Terminating real silent sockets end to end: ws.test.ts and hostile-client.test.ts.)
 */
import * as crypto from 'node:crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type Beating, FRAMES_PER_DRAW, Heartbeat } from '../../server/ws/heartbeat.ts'

// Counts the heartbeat's calls into the CSPRNG (each costs ~5-7 µs whatever its size).
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>()
  return { ...actual, randomBytes: vi.fn(actual.randomBytes), randomFillSync: vi.fn(actual.randomFillSync) }
})

/** A connection's liveness part, with a socket that records what the heartbeat did to it. */
class Peer implements Beating {
  alive = true
  pings = 0
  terminated = false
  pingPayload: Buffer | undefined
  /** The payload of every ping sent to this socket. */
  readonly payloads: Buffer[] = []
  readonly ws = {
    ping: (data?: Buffer) => {
      this.pings++
      if (data) this.payloads.push(Buffer.from(data))
    },
    terminate: () => {
      this.terminated = true
    },
  }
}

const beats: Heartbeat<Peer>[] = []
afterEach(() => {
  for (const b of beats.splice(0)) b.stop()
})

/**
 * A heartbeat whose timer never fires during a test (the test calls tick()) and whose clock stands
 * still (no tick is ever over its budget, however slow the machine running the test).
 */
function heartbeat(slices: number): Heartbeat<Peer> {
  const hb = new Heartbeat<Peer>(3_600_000 * slices, 3_600_000, () => 0)
  beats.push(hb)
  return hb
}

describe('heartbeat', () => {
  /** Runs `test` on fake timers; the default clock, performance.now(), is faked with them. */
  const withFakeClock = (test: () => void) => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'],
    })
    try {
      test()
    } finally {
      vi.useRealTimers()
    }
  }

  it('wakes only for slices that hold a socket: one socket wakes an idle server once per interval, not every 5 ms', () => {
    withFakeClock(() => {
      const hb = new Heartbeat<Peer>(30_000)
      beats.push(hb)
      const ticks = vi.spyOn(hb, 'tick')
      vi.advanceTimersByTime(1_000)
      expect(ticks).toHaveBeenCalledTimes(0)
      const peer = new Peer()
      hb.add(peer)
      vi.advanceTimersByTime(1_000)
      // Visited at its first turn, 5 ms after it came; the other 5,999 slices are slept through.
      expect(ticks).toHaveBeenCalledTimes(1)
      expect(peer.pings).toBe(1)
      peer.alive = true
      vi.advanceTimersByTime(29_000)
      expect(peer.pings).toBe(1)
      vi.advanceTimersByTime(10)
      // Its next turn, one interval after the first.
      expect(ticks).toHaveBeenCalledTimes(2)
      expect(peer.pings).toBe(2)
      hb.delete(peer)
      vi.advanceTimersByTime(60_000)
      expect(ticks).toHaveBeenCalledTimes(2)
      hb.add(peer) // watched again: woken for again
      vi.advanceTimersByTime(1_000)
      expect(ticks).toHaveBeenCalledTimes(3)
    })
  })

  it('a socket dealt into a slept-through slice is pinged at its turn, within one interval; the others keep theirs', () => {
    withFakeClock(() => {
      const hb = new Heartbeat<Peer>(30_000)
      beats.push(hb)
      const ticks = vi.spyOn(hb, 'tick')
      const [a, b, c] = [new Peer(), new Peer(), new Peer()]
      hb.add(a) // slice 0, its turn at 5 ms
      vi.advanceTimersByTime(5)
      expect(a.pings).toBe(1)
      // The wake now pending sleeps until a's next turn; b's slice (1) has its turn at 10 ms.
      hb.add(b)
      vi.advanceTimersByTime(5)
      expect(b.pings).toBe(1)
      // c's slice (2) had its turn at 15 ms, long past at 1 s: its next is at 30.015 s.
      vi.advanceTimersByTime(1_000 - 10)
      hb.add(c)
      for (const p of [a, b]) p.alive = true
      vi.advanceTimersByTime(30_000 - 1_000 + 10)
      expect([a.pings, b.pings, c.pings]).toEqual([2, 2, 0])
      vi.advanceTimersByTime(5)
      expect([a.pings, b.pings, c.pings]).toEqual([2, 2, 1])
      expect(ticks).toHaveBeenCalledTimes(5)
      expect([a, b, c].some((p) => p.terminated)).toBe(false)
    })
  })

  it('visits 20,000 sockets once per interval in 300 slices of at most 67, not in one loop', () => {
    const hb = heartbeat(300)
    const peers = Array.from({ length: 20_000 }, () => new Peer())
    for (const p of peers) hb.add(p)
    let most = 0
    for (let t = 0; t < 300; t++) {
      const before = peers.reduce((n, p) => n + p.pings, 0)
      hb.tick()
      most = Math.max(most, peers.reduce((n, p) => n + p.pings, 0) - before)
      for (const p of peers) p.alive = true // every socket answers
    }
    expect(most).toBe(Math.ceil(20_000 / 300))
    expect(peers.every((p) => p.pings === 1)).toBe(true)
    expect(peers.some((p) => p.terminated)).toBe(false)
  })

  it('cuts a 5 s interval into enough slices that 20,000 sockets make at most 20 pings per tick', () => {
    const hb = new Heartbeat<Peer>(5000)
    beats.push(hb)
    expect(Math.ceil(20_000 / hb.slices)).toBeLessThanOrEqual(20)
  })

  it('terminates a socket that did not answer the previous ping at its next visit, and forgets it', () => {
    const hb = heartbeat(4)
    const [quiet, healthy] = [new Peer(), new Peer()]
    hb.add(quiet)
    hb.add(healthy)
    for (let t = 0; t < 4; t++) hb.tick() // one interval: both pinged
    expect([quiet.pings, healthy.pings]).toEqual([1, 1])
    healthy.alive = true // only the healthy one pongs
    for (let t = 0; t < 4; t++) hb.tick()
    expect(quiet.terminated).toBe(true)
    expect(healthy.terminated).toBe(false)
    expect(healthy.pings).toBe(2)
    expect(hb.size).toBe(1)
  })

  it('draws random payloads once per FRAMES_PER_DRAW pings, not once per tick, each fresh', () => {
    // Fewer sockets than slices (the 30 s default has 3,000): every slice holds one socket.
    const hb = heartbeat(1_000)
    const peers = Array.from({ length: 1_000 }, () => new Peer())
    for (const p of peers) hb.add(p)
    vi.mocked(crypto.randomBytes).mockClear()
    vi.mocked(crypto.randomFillSync).mockClear()
    for (let t = 0; t < 1_000; t++) hb.tick()
    const draws =
      vi.mocked(crypto.randomBytes).mock.calls.length + vi.mocked(crypto.randomFillSync).mock.calls.length
    expect(draws).toBe(Math.ceil(1_000 / FRAMES_PER_DRAW))
    const payloads = peers.map((p) => p.payloads[0]!)
    expect(payloads.every((b) => b.length === 8)).toBe(true)
    expect(new Set(payloads.map((b) => b.toString('hex'))).size).toBe(1_000)
    // The payload a pong must echo is the one that went out.
    expect(peers.every((p) => p.pingPayload!.equals(p.payloads[0]!))).toBe(true)
  })

  it('a removed socket is never pinged again; one slice when the interval is shorter than a tick', () => {
    const hb = heartbeat(3)
    const gone = new Peer()
    hb.add(gone)
    hb.delete(gone)
    for (let t = 0; t < 6; t++) hb.tick()
    expect(gone.pings).toBe(0)
    const fast = new Heartbeat<Peer>(50, 100)
    beats.push(fast)
    const p = new Peer()
    fast.add(p)
    fast.tick()
    expect(p.pings).toBe(1)
  })

  it('a tick stops at its wall-time budget and the next finishes the slice: none skipped or pinged twice', () => {
    // Each clock read is 1 ms later: a 2.5 ms budget is spent after the third ping of a tick.
    let t = 0
    const hb = new Heartbeat<Peer>(3_600_000 * 4, 3_600_000, () => t++, 2.5)
    beats.push(hb)
    const peers = Array.from({ length: 40 }, () => new Peer())
    for (const p of peers) hb.add(p)
    const total = () => peers.reduce((n, p) => n + p.pings, 0)
    const perTick: number[] = []
    while (total() < 40 && perTick.length < 100) {
      const before = total()
      hb.tick()
      perTick.push(total() - before)
    }
    // 4 slices of 10: ticks of 3, 3, 3, 1 pings, then the next slice (a slice is never left for another).
    expect(perTick).toEqual([3, 3, 3, 1, 3, 3, 3, 1, 3, 3, 3, 1, 3, 3, 3, 1])
    expect(peers.every((p) => p.pings === 1)).toBe(true)
    // The second interval goes the same way: every socket once more, none terminated.
    for (const p of peers) p.alive = true
    for (let i = 0; i < 16; i++) hb.tick()
    expect(peers.every((p) => p.pings === 2 && !p.terminated)).toBe(true)
  })
})
