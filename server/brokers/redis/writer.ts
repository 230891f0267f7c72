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
 * Each execution's part of a batch is ONE script call (all of them pipelined in one round trip),
 * so it is atomic and fenced: the script writes nothing when the hash says another node ended the
 * execution (`lost`, set by the lease sweep when this node's lease had passed), names another
 * node, or holds a final status other than the one written. A node that was only slow therefore
 * never changes a status or result after the sweep, nor appends after its close marker, and the
 * keys keep the finished TTL the sweep gave them. The writer reports such an execution as fenced
 * and stops mirroring it; the broker stops the local copy.
 *
 * Every write is idempotent (explicit entry ids; the script skips ids at or below the stream's
 * top; hash snapshots), so a batch that failed half-way is simply written again. After a
 * reconnect the node checks each stream's top id and, when Redis lost data (a restart without
 * persistence), writes the retained log, the snapshot and the current markers again.
 */

import type { Retention } from '@flowcast/flows'
import type { ExecutionStatus } from '@flowcast/protocol'
import { isTerminal } from '@flowcast/protocol'
import type { Redis } from 'ioredis'
import type { Broker, ExecutionInfo, ExecutionOutcome, Follower, StreamClose } from '../broker.ts'
import { cancelledError } from '../error-shape.ts'
import { type EntryId, idAfter, parseId, type RedisKeys } from './keys.ts'
import { metaFields } from './meta.ts'

/**
 * KEYS: meta, log, runs. ARGV: node id, execution id, status, finished TTL ms, trim MINID ('' for
 * none), n (the count of hash arguments), the n hash arguments (field, value, ...), then entries as
 * groups of four (seq, sub, field, value) in id order.
 * Returns 1 when written, 0 when fenced (nothing written).
 */
const WRITE = `
local h = redis.call('HMGET', KEYS[1], 'node', 'status', 'lost')
if h[3] then return 0 end
if h[1] and h[1] ~= ARGV[1] then return 0 end
local final = {completed = true, failed = true, cancelled = true}
if h[2] and final[h[2]] and h[2] ~= ARGV[3] then return 0 end
local topSeq, topSub = -1, -1
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local id = top[1][1]
  local dash = string.find(id, '-', 1, true)
  topSeq = tonumber(string.sub(id, 1, dash - 1))
  topSub = tonumber(string.sub(id, dash + 1))
end
local n = tonumber(ARGV[6])
for i = 7 + n, #ARGV, 4 do
  local seq, sub = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if seq > topSeq or (seq == topSeq and sub > topSub) then
    redis.call('XADD', KEYS[2], ARGV[i] .. '-' .. ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    topSeq, topSub = seq, sub
  end
end
if ARGV[5] ~= '' then redis.call('XTRIM', KEYS[2], 'MINID', '=', ARGV[5]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 7, 6 + n))
if final[ARGV[3]] then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  redis.call('SREM', KEYS[3], ARGV[2])
else
  -- On every write, not only the first: a sweep that found this node's lease passed may have
  -- dropped the set while this execution was not yet in it.
  redis.call('SADD', KEYS[3], ARGV[2])
end
return 1
`

const WRITE_COMMAND = 'flowcastMirrorWrite'

type WriteCommand = (meta: string, log: string, runs: string, ...args: (string | number)[]) => unknown

type Marker = { id: EntryId; status: ExecutionStatus } | { id: EntryId; close: StreamClose }

interface Mirror {
  readonly id: string
  readonly follower: Follower
  readonly off: () => void
  readonly retention: Retention
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
}

export interface MirrorWriterOptions {
  redis: Redis
  keys: RedisKeys
  nodeId: string
  /** Where the execution runs: the in-process broker this node wraps. */
  local: Broker
  finishedTtlMs: number
  onError: (err: unknown, context: string) => void
  /** Told the executions whose writes Redis refused because another node ended them (node_lost). */
  onFenced: (executionIds: string[]) => void
}

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
    if (!(WRITE_COMMAND in options.redis)) {
      options.redis.defineCommand(WRITE_COMMAND, { numberOfKeys: 3, lua: WRITE })
    }
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
  async attach(follower: Follower, retention: Retention): Promise<void> {
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

  /**
   * After this node's lease had passed: the mirrored executions whose hash says another node
   * ended them (the writes of those are refused anyway). Every other one is written again, since
   * the sweep may have dropped this node's set of runs.
   */
  async fenced(): Promise<string[]> {
    const ids = [...this.#mirrors.keys()]
    if (ids.length === 0) return []
    const pipe = this.#o.redis.pipeline()
    for (const id of ids) pipe.hmget(this.#o.keys.meta(id), 'node', 'lost')
    const rows = (await pipe.exec()) ?? []
    const out = new Set<string>()
    rows.forEach(([err, value], i) => {
      if (err) throw err
      const [node, lost] = value as (string | null)[]
      if (lost != null || (node != null && node !== this.#o.nodeId)) out.add(ids[i]!)
    })
    for (const m of this.#mirrors.values()) if (!out.has(m.id)) this.#touch(m)
    return [...out]
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
    const pipe = redis.pipeline() as unknown as Record<typeof WRITE_COMMAND, WriteCommand> & {
      exec(): Promise<[Error | null, unknown][] | null>
    }
    const plans: { m: Mirror; markers: Marker[]; seq: number; id: EntryId; trimmedTo: number }[] = []
    const runs = keys.runs(this.#o.nodeId)
    batch.forEach((m, i) => {
      const info = snaps[i]!.info ?? m.lastInfo
      m.dirty = false
      if (!info) return
      m.lastInfo = info
      const markers = m.markers.splice(0)
      const entries: (string | number)[] = []
      let seq = m.writtenSeq
      let top = m.writtenId
      const eventsUpTo = (upTo: number) => {
        while (seq < upTo) {
          const r = m.follower.read(seq, 1024)
          if (r.gap) seq = Math.min(upTo, r.gap.to)
          for (const e of r.entries) {
            if (e.seq > upTo) break
            entries.push(e.seq, 0, 'e', e.json)
            seq = e.seq
            top = { seq: e.seq, sub: 0 }
          }
          if (r.entries.length === 0 && !r.gap) break
        }
      }
      for (const mk of markers) {
        eventsUpTo(mk.id.seq)
        if ('status' in mk) entries.push(mk.id.seq, mk.id.sub, 's', mk.status)
        else entries.push(mk.id.seq, mk.id.sub, 'c', JSON.stringify(mk.close))
        if (idAfter(mk.id, top)) top = mk.id
      }
      const head = m.follower.lastSeq
      eventsUpTo(head)
      const probe = m.follower.read(0, 1)
      const firstSeq = probe.gap ? probe.gap.to + 1 : (probe.entries[0]?.seq ?? head + 1)
      const snapshot: ExecutionInfo = { ...info, lastSeq: head, firstSeq, status: m.follower.status }
      if (snapshot.status === 'cancelled' && !snapshot.error) {
        snapshot.error = cancelledError(m.id)
      }
      snapshot.endedAt ??= isTerminal(snapshot.status) ? Date.now() : undefined
      if (snapshot.endedAt === undefined) delete snapshot.endedAt
      const close = m.follower.streamClose
      if (close) {
        snapshot.streamClose = close
        snapshot.streamOpen = false
      }
      const fields = Object.entries(
        metaFields(snapshot, this.#o.nodeId, m.retention, snaps[i]!.outcome),
      ).flat()
      pipe[WRITE_COMMAND](
        keys.meta(m.id),
        keys.log(m.id),
        runs,
        this.#o.nodeId,
        m.id,
        snapshot.status,
        this.#o.finishedTtlMs,
        firstSeq > m.trimmedTo ? `${firstSeq}-0` : '',
        fields.length,
        ...fields,
        ...entries,
      )
      plans.push({ m, markers, seq, id: top, trimmedTo: Math.max(m.trimmedTo, firstSeq) })
    })
    let results: [Error | null, unknown][] | null
    try {
      results = await pipe.exec()
      if (!results) throw new Error('pipeline aborted')
    } catch (err) {
      // Nothing is confirmed: put the markers back in front and try again once Redis answers.
      for (const p of plans) this.#unconfirmed(p.m, p.markers)
      this.#retryLater()
      throw err
    }
    const fenced: string[] = []
    plans.forEach((p, i) => {
      const [err, written] = results![i] ?? [new Error('no reply'), null]
      if (err) {
        // Each call is atomic: this one wrote nothing (or, after a script error, only ids the retry skips).
        this.#unconfirmed(p.m, p.markers)
        this.#retryLater()
        if (this.#o.redis.status === 'ready') this.#o.onError(err, 'redis write')
        return
      }
      if (written !== 1) {
        fenced.push(p.m.id)
        return
      }
      p.m.writtenSeq = Math.max(p.m.writtenSeq, p.seq)
      if (idAfter(p.id, p.m.writtenId)) p.m.writtenId = p.id
      p.m.trimmedTo = p.trimmedTo
      p.m.confirmed = true
    })
    if (fenced.length > 0) this.#o.onFenced(fenced)
    if ([...this.#mirrors.values()].some((m) => m.dirty)) this.#schedule()
  }

  /** Puts a batch's markers back in front of newer ones and marks the mirror to be written again. */
  #unconfirmed(m: Mirror, markers: Marker[]): void {
    m.markers = [...markers, ...m.markers]
    m.dirty = true
  }

  async #snapshot(
    m: Mirror,
  ): Promise<{ info: ExecutionInfo | undefined; outcome: ExecutionOutcome | undefined }> {
    const info = await this.#o.local.info(m.id)
    const outcome = info && isTerminal(info.status) ? await this.#o.local.result(m.id, 0) : undefined
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
      m.markers = []
      this.#mark(m, { status: m.follower.status })
      if (m.follower.streamClose) this.#mark(m, { close: m.follower.streamClose })
    })
  }
}
