/**
 * The heartbeat's schedule: every socket is visited once per interval, a slice per tick, so no
 * single tick walks all of them; a socket that did not answer is terminated at its next visit.
 * (Terminating real silent sockets end to end: ws.test.ts and hostile-client.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Beating, Heartbeat } from '../../server/ws/heartbeat.ts'

/** A connection's liveness part, with a socket that records what the heartbeat did to it. */
class Peer implements Beating {
  alive = true
  pings = 0
  terminated = false
  readonly ws = {
    ping: () => {
      this.pings++
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

/** A heartbeat whose timer never fires during a test: the test calls tick(). */
function heartbeat(slices: number): Heartbeat<Peer> {
  const hb = new Heartbeat<Peer>(3_600_000 * slices, 3_600_000)
  beats.push(hb)
  return hb
}

describe('heartbeat', () => {
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

  it('cuts a 5 s interval into enough slices that 20,000 sockets make at most 40 pings per tick', () => {
    const hb = new Heartbeat<Peer>(5000)
    beats.push(hb)
    expect(Math.ceil(20_000 / hb.slices)).toBeLessThanOrEqual(40)
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
})
