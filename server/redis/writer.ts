/**
 * The running node's side: mirrors the executions this node runs into Redis. Appends, status
 * changes and the stream close are collected and written once per tick for every execution in
 * ONE MULTI/EXEC, so a reader on another node never sees a hash ahead of its stream or the
 * reverse, and throughput is one round trip per tick, not one per event.
 *
 * Retention: the stream is trimmed with XTRIM MINID = <first seq the engine still retains>, not
 * MAXLEN. The engine bounds its log by events AND bytes; MINID carries both bounds exactly, and
 * markers (status, close) never count against the events kept. Exact (`=`), not approximate
 * (`~`), so every node holds the same first event and announces the same gap.
 *
 * Every write is idempotent (explicit entry ids; a duplicate id is refused and ignored; hash
 * snapshots), so a batch that failed half-way is simply written again. After a reconnect the
 * node checks each stream's top id and, when Redis lost data (a restart without persistence),
 * writes the retained log, the snapshot and the current markers again.
 */
import type { Redis } from 'ioredis'
import type { ExecutionStatus } from '../../client-sdk/protocol.ts'
import type { Broker, ExecutionInfo, ExecutionOutcome, Follower, StreamClose } from '../broker.ts'
import { type EntryId, formatId, idAfter, parseId, type RedisKeys } from './keys.ts'
import { isFinal, metaFields } from './meta.ts'

type Marker = { id: EntryId; status: ExecutionStatus } | { id: EntryId; close: StreamClose }

interface Mirror {
  readonly id: string
  readonly follower: Follower
  readonly off: () => void
  readonly retention: { maxEvents: number; maxBytes: number }
  /** Markers not yet written, in id order. */
  markers: Marker[]
  /** Id of the newest marker assigned. */
  lastMarker: EntryId
  /** Last event seq Redis confirmed. */
  writtenSeq: number
  /** Newest id (event or marker) Redis confirmed. */
  writtenId: EntryId
  /** First retained seq Redis was trimmed to. */
  trimmedTo: number
  dirty: boolean
  /** The last snapshot the local broker gave: it forgets executions on close, the mirror must not. */
  lastInfo?: ExecutionInfo
  /** True once a snapshot of it is in Redis. */
  confirmed?: boolean
  /** True while Redis is known to list it among this node's runs (the lease sweep reads that set). */
  listed?: boolean
}

export interface MirrorWriterOptions {
  redis: Redis
  keys: RedisKeys
  nodeId: string
  /** Where the execution runs: the in-process broker this node wraps. */
  local: Broker
  finishedTtlMs: number
  onError: (err: unknown, context: string) => void
}

const DUPLICATE_ID = /equal or smaller than the target stream top item/

/** Writes this node's executions to Redis, batched per tick. */
export class MirrorWriter {
  readonly #o: MirrorWriterOptions
  readonly #mirrors = new Map<string, Mirror>()
  #scheduled: ReturnType<typeof setImmediate> | undefined
  #flushing: Promise<void> | undefined
  #retry: ReturnType<typeof setTimeout> | undefined
  #needsResync = false
  #closed = false

  constructor(options: MirrorWriterOptions) {
    this.#o = options
    options.redis.on('close', () => {
      this.#needsResync = true
    })
    options.redis.on('ready', () => {
      if (this.#closed || !this.#needsResync) return
      this.#needsResync = false
      this.#resync().then(
        () => this.#schedule(),
        (err) => {
          this.#needsResync = true
          this.#o.onError(err, 'redis resync')
        },
      )
    })
  }

  /** Executions mirrored by this node. */
  has(executionId: string): boolean {
    return this.#mirrors.has(executionId)
  }

  /** Starts mirroring a local execution and resolves once its first snapshot is in Redis. */
  async attach(follower: Follower, retention: { maxEvents: number; maxBytes: number }): Promise<void> {
    const id = follower.executionId
    const m: Mirror = {
      id,
      follower,
      off: () => undefined,
      retention,
      markers: [],
      lastMarker: { seq: 0, sub: 0 },
      writtenSeq: 0,
      writtenId: { seq: 0, sub: 0 },
      trimmedTo: 1,
      dirty: true,
    }
    ;(m as { off: () => void }).off = follower.listen({
      onAppend: () => this.#touch(m),
      onStatus: (status) => this.#mark(m, { status }),
      onClose: (close) => this.#mark(m, { close }),
    })
    this.#mirrors.set(id, m)
    // What happened before we listened is told by the snapshot: the current status, and the close.
    this.#mark(m, { status: follower.status })
    if (follower.streamClose) this.#mark(m, { close: follower.streamClose })
    await this.flush()
    if (!m.confirmed) throw new Error('the first snapshot did not reach redis')
  }

  /** Stops mirroring (eviction); the caller deletes the keys. */
  detach(executionId: string): void {
    const m = this.#mirrors.get(executionId)
    if (!m) return
    m.off()
    m.follower.release()
    this.#mirrors.delete(executionId)
  }

  /** Writes everything pending now; resolves when this batch (and any it waited for) is done. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing
    if (this.#closed) return
    this.#flushing = this.#flushOnce().finally(() => {
      this.#flushing = undefined
    })
    await this.#flushing
  }

  /** Stops writing; pending work is dropped (the executions are cancelled by their owner). */
  close(): void {
    this.#closed = true
    if (this.#scheduled) clearImmediate(this.#scheduled)
    if (this.#retry) clearTimeout(this.#retry)
    for (const m of this.#mirrors.values()) {
      m.off()
      m.follower.release()
    }
    this.#mirrors.clear()
  }

  #touch(m: Mirror): void {
    m.dirty = true
    this.#schedule()
  }

  #mark(m: Mirror, what: { status: ExecutionStatus } | { close: StreamClose }): void {
    const seq = m.follower.lastSeq
    const id = { seq, sub: m.lastMarker.seq === seq ? m.lastMarker.sub + 1 : 1 }
    m.lastMarker = id
    m.markers.push({ id, ...what } as Marker)
    this.#touch(m)
  }

  #schedule(): void {
    if (this.#scheduled || this.#closed) return
    this.#scheduled = setImmediate(() => {
      this.#scheduled = undefined
      // While Redis is away the work stays dirty; the 'ready' handler resumes it.
      if (this.#o.redis.status !== 'ready') {
        this.#needsResync = true
        return
      }
      this.flush().catch((err) => {
        if (this.#o.redis.status === 'ready') this.#o.onError(err, 'redis write')
      })
    })
  }

  async #flushOnce(): Promise<void> {
    const batch = [...this.#mirrors.values()].filter((m) => m.dirty)
    if (batch.length === 0) return
    const { redis, keys } = this.#o
    // The snapshot parts only the local broker knows (interrupts, error, result) come async;
    // gather until they agree with the follower's status, then build the batch without awaiting.
    let snaps: { info: ExecutionInfo | undefined; outcome: ExecutionOutcome | undefined }[] = []
    for (let tries = 0; tries < 10; tries++) {
      snaps = await Promise.all(batch.map((m) => this.#snapshot(m)))
      if (batch.every((m, i) => snaps[i]!.info === undefined || snaps[i]!.info!.status === m.follower.status))
        break
    }
    const multi = redis.multi()
    const plans: {
      m: Mirror
      markers: Marker[]
      seq: number
      id: EntryId
      trimmedTo: number
      listed: boolean
    }[] = []
    const runs = keys.runs(this.#o.nodeId)
    batch.forEach((m, i) => {
      const info = snaps[i]!.info ?? m.lastInfo
      m.dirty = false
      if (!info) return
      m.lastInfo = info
      const log = keys.log(m.id)
      const markers = m.markers.splice(0)
      let seq = m.writtenSeq
      let top = m.writtenId
      const eventsUpTo = (upTo: number) => {
        while (seq < upTo) {
          const r = m.follower.read(seq, 1024)
          if (r.gap) seq = Math.min(upTo, r.gap.to)
          for (const e of r.entries) {
            if (e.seq > upTo) break
            multi.xadd(log, `${e.seq}-0`, 'e', e.json)
            seq = e.seq
            top = { seq: e.seq, sub: 0 }
          }
          if (r.entries.length === 0 && !r.gap) break
        }
      }
      for (const mk of markers) {
        eventsUpTo(mk.id.seq)
        if ('status' in mk) multi.xadd(log, formatId(mk.id), 's', mk.status)
        else multi.xadd(log, formatId(mk.id), 'c', JSON.stringify(mk.close))
        if (idAfter(mk.id, top)) top = mk.id
      }
      const head = m.follower.lastSeq
      eventsUpTo(head)
      const probe = m.follower.read(0, 1)
      const firstSeq = probe.gap ? probe.gap.to + 1 : (probe.entries[0]?.seq ?? head + 1)
      if (firstSeq > m.trimmedTo) multi.xtrim(log, 'MINID', '=', `${firstSeq}-0`)
      const snapshot: ExecutionInfo = { ...info, lastSeq: head, firstSeq, status: m.follower.status }
      if (snapshot.status === 'cancelled' && !snapshot.error) {
        snapshot.error = { code: 'execution_cancelled', message: `execution ${m.id} was cancelled` }
      }
      snapshot.endedAt ??= isFinal(snapshot.status) ? Date.now() : undefined
      if (snapshot.endedAt === undefined) delete snapshot.endedAt
      const close = m.follower.streamClose
      if (close) {
        snapshot.streamClose = close
        snapshot.streamOpen = false
      }
      multi.hset(keys.meta(m.id), metaFields(snapshot, this.#o.nodeId, m.retention, snaps[i]!.outcome))
      const final = isFinal(snapshot.status)
      if (final) {
        multi.pexpire(keys.meta(m.id), this.#o.finishedTtlMs)
        multi.pexpire(log, this.#o.finishedTtlMs)
        multi.srem(runs, m.id)
      } else if (!m.listed) {
        // In the same MULTI as the hash: no sweeper sees a running execution missing from the set.
        multi.sadd(runs, m.id)
      }
      plans.push({ m, markers, seq, id: top, trimmedTo: Math.max(m.trimmedTo, firstSeq), listed: !final })
    })
    let results: [Error | null, unknown][] | null
    try {
      results = await multi.exec()
      if (!results) throw new Error('MULTI aborted')
    } catch (err) {
      // Nothing is confirmed: put the markers back in front and try again once Redis answers.
      for (const p of plans) {
        p.m.markers = [...p.markers, ...p.m.markers]
        p.m.dirty = true
      }
      this.#retryLater()
      throw err
    }
    for (const [err] of results)
      if (err && !DUPLICATE_ID.test(err.message)) this.#o.onError(err, 'redis write')
    for (const p of plans) {
      p.m.writtenSeq = Math.max(p.m.writtenSeq, p.seq)
      if (idAfter(p.id, p.m.writtenId)) p.m.writtenId = p.id
      p.m.trimmedTo = p.trimmedTo
      p.m.confirmed = true
      p.m.listed = p.listed
    }
    if ([...this.#mirrors.values()].some((m) => m.dirty)) this.#schedule()
  }

  async #snapshot(
    m: Mirror,
  ): Promise<{ info: ExecutionInfo | undefined; outcome: ExecutionOutcome | undefined }> {
    const info = await this.#o.local.info(m.id)
    const outcome = info && isFinal(info.status) ? await this.#o.local.result(m.id, 0) : undefined
    return { info, outcome }
  }

  #retryLater(): void {
    if (this.#retry || this.#closed) return
    // While disconnected, the 'ready' handler resumes; a refusal on a live connection retries soon.
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      if (this.#o.redis.status === 'ready') this.#schedule()
      else this.#needsResync = true
    }, 250)
  }

  /** After a reconnect: rewrite what Redis lost (a restart without persistence, a flush). */
  async #resync(): Promise<void> {
    const mirrors = [...this.#mirrors.values()]
    if (mirrors.length === 0) return
    const pipe = this.#o.redis.pipeline()
    for (const m of mirrors) pipe.xrevrange(this.#o.keys.log(m.id), '+', '-', 'COUNT', 1)
    const tops = (await pipe.exec()) ?? []
    mirrors.forEach((m, i) => {
      const [err, rows] = tops[i] ?? [new Error('no reply'), null]
      if (err) throw err
      const row = (rows as [string, string[]][])[0]
      const top = row ? parseId(row[0]) : { seq: 0, sub: 0 }
      if (!idAfter(m.writtenId, top)) return
      // Lost: write again from what Redis still has (or from the engine's first retained seq).
      m.writtenSeq = Math.min(m.writtenSeq, top.seq)
      m.writtenId = top
      m.trimmedTo = 1
      m.listed = false
      m.markers = []
      this.#mark(m, { status: m.follower.status })
      if (m.follower.streamClose) this.#mark(m, { close: m.follower.streamClose })
    })
  }
}
