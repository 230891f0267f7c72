/**
 * Per-subscriber exactness and the phase's latency histogram, kept in the client process. The
 * in-order case (the only one a correct server produces) costs a compare and an increment; the
 * set of seqs seen ahead of a hole exists only while there is a hole.
 */
import * as hdr from 'hdr-histogram-js'
import type { Tally } from './protocol.ts'

export class Subscriber {
  /** Every seq below this one has been seen. */
  next = 1
  /** Seqs seen beyond a hole, which is what makes a later arrival "reordered" rather than lost. */
  ahead: Set<number> | null = null
  max = 0
  repeated = 0
  reordered = 0
  malformed = 0
  dropped = false

  constructor(readonly room: number) {}

  /** Distinct seqs in 1..upTo that have arrived. */
  seenUpTo(upTo: number): number {
    let n = Math.min(this.next - 1, upTo)
    if (this.ahead) for (const s of this.ahead) if (s <= upTo) n++
    return n
  }

  /** Distinct seqs that arrived although they were never sent. */
  beyond(upTo: number): number {
    let n = Math.max(0, this.next - 1 - upTo)
    if (this.ahead) for (const s of this.ahead) if (s > upTo) n++
    return n
  }
}

// Latency is kept in µs; 10 minutes is far beyond any phase, and autoResize covers the rest.
const HIST = {
  lowestDiscernibleValue: 1,
  highestTrackableValue: 600_000_000,
  numberOfSignificantValueDigits: 3 as const,
  bitBucketSize: 32 as const,
  autoResize: true,
  useWebAssembly: false,
}

/**
 * BENCH_LATE_MS: deliveries later than this many ms are counted by the seq they carried and the
 * room they went to, and the client prints the counts with the phase's tally. A tail from a stall
 * of the whole server shows as every room late on the same few seqs; one from a few slow sockets,
 * as the same rooms late on every seq.
 */
const LATE_US = Number(process.env.BENCH_LATE_MS ?? 0) * 1000

export class Recorder {
  delivered = 0
  firstAt = 0
  lastAt = 0
  private hist = hdr.build(HIST)
  /** Late deliveries (BENCH_LATE_MS) by seq, and the rooms they went to. */
  private lateBySeq = new Map<number, number>()
  private lateRooms = new Set<number>()

  reset(): void {
    this.lateBySeq.clear()
    this.lateRooms.clear()
    this.delivered = 0
    this.firstAt = 0
    this.lastAt = 0
    this.hist.destroy()
    this.hist = hdr.build(HIST)
  }

  /** One delivered item: `now` is taken once per frame, `t` is the item's emit time. */
  record(sub: Subscriber, seq: unknown, t: unknown, now: number): void {
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1) {
      sub.malformed++
      return
    }
    this.delivered++
    if (this.firstAt === 0) this.firstAt = now
    this.lastAt = now
    if (typeof t === 'number') {
      const us = Math.round((now - t) * 1000)
      // Clocks of two processes can disagree by a µs or so; a negative value means "no wait".
      this.hist.recordValue(Math.max(us, 1))
      if (LATE_US > 0 && us > LATE_US) {
        this.lateBySeq.set(seq, (this.lateBySeq.get(seq) ?? 0) + 1)
        this.lateRooms.add(sub.room)
      }
    }
    let fresh = true
    if (seq === sub.next) {
      sub.next++
      if (sub.ahead) {
        while (sub.ahead.delete(sub.next)) sub.next++
        if (sub.ahead.size === 0) sub.ahead = null
      }
    } else if (seq < sub.next || sub.ahead?.has(seq)) {
      sub.repeated++
      fresh = false
    } else {
      sub.ahead ??= new Set()
      sub.ahead.add(seq)
    }
    if (fresh && seq < sub.max) sub.reordered++
    if (seq > sub.max) sub.max = seq
  }

  tally(subs: Subscriber[], expected: number[], complete: boolean, clientCpuUs: number): Tally {
    if (LATE_US > 0) {
      const bySeq = [...this.lateBySeq].sort((a, b) => a[0] - b[0])
      const total = bySeq.reduce((n, [, c]) => n + c, 0)
      console.error(
        `[client] deliveries over ${LATE_US / 1000} ms: ${total} in ${this.lateRooms.size} of ${new Set(subs.map((s) => s.room)).size} rooms; by seq (seq:count) ${bySeq.map(([q, c]) => `${q}:${c}`).join(' ') || 'none'}`,
      )
    }
    let lost = 0
    let repeated = 0
    let reordered = 0
    let extra = 0
    let dropped = 0
    for (const sub of subs) {
      const want = expected[sub.room] ?? 0
      lost += want - sub.seenUpTo(want)
      extra += sub.beyond(want) + sub.malformed
      repeated += sub.repeated
      reordered += sub.reordered
      if (sub.dropped) dropped++
    }
    const h = this.hist
    const ms = (p: number) => (h.totalCount > 0 ? h.getValueAtPercentile(p) / 1000 : null)
    return {
      subscribers: subs.length,
      delivered: this.delivered,
      lost,
      repeated,
      reordered,
      extra,
      dropped,
      firstAt: this.firstAt,
      lastAt: this.lastAt,
      complete,
      clientCpuUs,
      latency: {
        count: h.totalCount,
        p50: ms(50),
        p99: ms(99),
        p999: ms(99.9),
        max: h.totalCount > 0 ? h.maxValue / 1000 : null,
      },
    }
  }
}
