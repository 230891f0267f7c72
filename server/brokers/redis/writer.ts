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
 * Fencing without a script: the batch is ONE MULTI/EXEC of plain commands (XADD with explicit
 * ids, XTRIM, HSET of the fields that changed, the `runs` set, PEXPIRE once final, and one PUBLISH
 * on the doorbell naming every log the batch grew, reader.ts), sent under a WATCH of this node's fence
 * counter (fence.ts). The lease sweep bumps that counter whenever it takes one of this node's
 * executions away (claim.ts), so a node that was only slow has its next EXEC dropped whole by
 * Redis; it then reads each execution's `node` under a new WATCH, reports the ones it no longer
 * holds as fenced (the broker stops the local copy) and writes the others again, within the same
 * flush(), so whoever awaits a flush is answered once Redis holds its writes (or with an error). A
 * node that was only slow therefore never writes to an execution after the sweep took it.
 *
 * Checkpoints: at each step boundary (Execution.onCheckpoint) the next batch carries the
 * execution's snapshot in its hash (`checkpoint`), in the same MULTI as that tick's events, so a
 * checkpoint never runs ahead of the log another node resumes after.
 *
 * Every write is idempotent (explicit entry ids, which Redis refuses at or below the stream's
 * top; hash fields), so a batch whose reply was lost is simply written again. After a reconnect
 * the node checks each stream's top id and, when Redis lost data (a restart without
 * persistence), writes the retained log, the whole hash, the `runs` set and the current markers
 * again.
 */

import type { ExecutionSnapshot, Retention } from '@flowcast/flows'
import type { ExecutionStatus } from '@flowcast/protocol'
import { FlowcastError, isTerminal } from '@flowcast/protocol'
import type { Redis } from 'ioredis'
import type { Broker, ExecutionInfo, ExecutionOutcome, Follower, StreamClose } from '../broker.ts'
import { cancelledError } from '../error-shape.ts'
import { type BatchReply, type BatchSender, batchSender, type BatchCommand as Command } from './batch.ts'
import { WriteFence } from './fence.ts'
import { type EntryId, formatId, idAfter, parseId, type RedisKeys } from './keys.ts'
import { metaFields } from './meta.ts'
import { RingBuilder } from './ring.ts'

/**
 * Batches the fence may drop in a row within one flush() before it answers with an error. Each
 * drop is a sweep that took some of this node's executions after the WATCH; the re-run first
 * re-reads which ones are still held, so a second drop in a row is already rare.
 */
const FENCE_RETRIES = 3

/** Redis's refusal of an explicit entry id at or below the stream's top: the entry is there already. */
const ALREADY_WRITTEN = 'equal or smaller than the target stream top item'

/** What the local broker says of an execution for a batch. */
interface Snap {
  info: ExecutionInfo | undefined
  outcome: ExecutionOutcome | undefined
}

/** A batch's stand-in for a mirror whose info is not due: its last snapshot holds. */
const UNCHANGED: Snap = Object.freeze({ info: undefined, outcome: undefined })

type Marker = { id: EntryId; status: ExecutionStatus } | { id: EntryId; close: StreamClose }

/** One execution's commands in a batch and what Redis holds once they are confirmed. */
interface Plan {
  m: Mirror
  markers: Marker[]
  commands: Command[]
  /** Index of its first command in the batch (the MULTI is 0). */
  from: number
  fields: [string, string][]
  listed: boolean
  seq: number
  id: EntryId
  trimmedTo: number
  /** The log grew: the batch's doorbell names it. */
  appended: boolean
  /** Redis's top of the log before this batch, when known for certain (the doorbell then carries the entries). */
  before: EntryId | undefined
}

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
  /**
   * writtenId is Redis's top of the log for certain: the last batch was confirmed and none since
   * went unanswered (whose writes may have landed). Until then the doorbell only names the log.
   */
  certain: boolean
  /** First retained seq Redis was trimmed to. */
  trimmedTo: number
  dirty: boolean
  /** The last snapshot the local broker gave: it forgets executions on close, the mirror must not. */
  lastInfo?: ExecutionInfo
  /** True once a snapshot of it is in Redis. */
  confirmed?: boolean
  /** The hash fields Redis holds as this node last wrote them (only changed ones are sent). */
  hash: Map<string, string>
  /** True once Redis confirmed it in this node's `runs` set (again after a sweep or a data loss). */
  listed: boolean
  /** A step boundary passed since the last checkpoint written: the next batch carries a new one. */
  checkpointDue: boolean
  /**
   * The next batch asks the local broker for the execution's snapshot and compares its hash
   * fields. Clear while only events came since Redis confirmed them: what else the hash holds
   * changes with a status or close (a marker) or at a step boundary (interrupts), which set it.
   */
  infoDue: boolean
  offCheckpoint: () => void
  /** The seq the local log went on after, when this node resumed it from a checkpoint (else 0). */
  base: number
}

/** Where Redis stands for an execution this node takes over: the log's top entry and its first retained seq. */
export interface TakeOver {
  top: EntryId
  firstSeq: number
}

/** How the writer checkpoints each execution (see MirrorWriterOptions.checkpoints). */
export interface Checkpoints {
  /** The execution's saved form now; throws what Execution.save throws. */
  save(executionId: string): ExecutionSnapshot | undefined
  /** Calls `listener` at each step boundary of the execution; returns the remover. */
  listen(executionId: string, listener: () => void): () => void
  /** Largest checkpoint (its JSON, bytes). */
  maxBytes: number
  /** A checkpoint over maxBytes: the broker fails the execution with this error. */
  onTooLarge(executionId: string, error: FlowcastError): void
}

export interface MirrorWriterOptions {
  /** The writer's own connection: its WATCH is the fence, so nothing else may send EXEC on it. */
  redis: Redis
  keys: RedisKeys
  nodeId: string
  /** Where the execution runs: the in-process broker this node wraps. */
  local: Broker
  finishedTtlMs: number
  onError: (err: unknown, context: string) => void
  /** Told the executions whose writes Redis refused because another node ended or took them. */
  onFenced: (executionIds: string[]) => void
  /** Told after each batch Redis confirmed (the broker's own followers may deliver what they held). */
  onWritten?: () => void
  /**
   * The checkpoint of each execution, written in its hash (`checkpoint`) with the events of the
   * tick that passed a step boundary, so another node can resume it from there.
   */
  checkpoints?: Checkpoints
  /** Most bytes of entries one batch's doorbell carries to the followers (ring.ts); 0: it only names the logs. */
  ringBytes?: number
}

/** Writes this node's executions to Redis, batched per tick. */
export class MirrorWriter {
  readonly #o: MirrorWriterOptions
  readonly #mirrors = new Map<string, Mirror>()
  /**
   * The mirrors with something to write: a batch takes these, not a scan of every mirror (at
   * 5,000 executions the scans were 16% of the node's busy time; issue 18).
   */
  readonly #dirty = new Set<Mirror>()
  readonly #fence: WriteFence
  /** Sends a batch as one socket write (batch.ts); pipeline() where that cannot be done exactly. */
  readonly #send: BatchSender
  #scheduled: ReturnType<typeof setImmediate> | undefined
  #flushing: Promise<void> | undefined
  #retry: ReturnType<typeof setTimeout> | undefined
  #needsResync = false
  #closed = false
  /** Errors already told to onError, or not to be (a flush's caller may still get them). */
  readonly #told = new WeakSet<Error>()

  constructor(options: MirrorWriterOptions) {
    this.#o = options
    this.#fence = new WriteFence(options.redis, options.keys.fence(options.nodeId))
    this.#send = batchSender(options.redis)
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

  /** The ids of the executions mirrored by this node. */
  ids(): string[] {
    return [...this.#mirrors.keys()]
  }

  /** True while the executions' hashes must be checked before anything more is written (fence.ts). */
  get unsure(): boolean {
    return this.#fence.unsure
  }

  /** The last event seq of the execution Redis confirmed from this node (0 when not mirrored). */
  writtenSeq(executionId: string): number {
    return this.#mirrors.get(executionId)?.writtenSeq ?? 0
  }

  /** A mirrored execution's status as this node runs it. */
  status(executionId: string): ExecutionStatus | undefined {
    return this.#mirrors.get(executionId)?.follower.status
  }

  /**
   * Starts mirroring a local execution and resolves once its first snapshot is in Redis. With
   * `from`, the execution was resumed here from a checkpoint: its log goes on after Redis's top.
   */
  async attach(follower: Follower, retention: Retention, from?: TakeOver): Promise<void> {
    const id = follower.executionId
    const top = from?.top ?? { seq: 0, sub: 0 }
    const m: Mirror = {
      id,
      follower,
      off: () => undefined,
      retention,
      markers: [],
      lastMarker: top,
      writtenSeq: top.seq,
      writtenId: top,
      certain: false,
      trimmedTo: from?.firstSeq ?? 1,
      dirty: true,
      hash: new Map(),
      listed: from !== undefined,
      checkpointDue: true,
      infoDue: true,
      offCheckpoint: () => undefined,
      base: from ? top.seq : 0,
    }
    ;(m as { off: () => void }).off = follower.listen({
      onAppend: () => this.#touch(m),
      onStatus: (status) => this.#mark(m, { status }),
      onClose: (close) => this.#mark(m, { close }),
    })
    if (this.#o.checkpoints)
      m.offCheckpoint = this.#o.checkpoints.listen(id, () => {
        m.checkpointDue = true
        m.infoDue = true
        this.#touch(m)
      })
    this.#mirrors.set(id, m)
    this.#dirty.add(m)
    // What happened before we listened is told by the snapshot: the current status, and the close.
    this.#mark(m, { status: follower.status })
    if (follower.streamClose) this.#mark(m, { close: follower.streamClose })
    await this.flush()
    // Written, but not this one: the check before the write found it fenced, or it is gone here.
    if (!m.confirmed) throw new Error('the first snapshot did not reach redis')
  }

  /**
   * This node's lease had passed: other nodes may have ended its executions. The next batch first
   * reads each execution's hash, whatever the fence counter says.
   */
  suspect(): void {
    this.#fence.suspect()
    for (const m of this.#mirrors.values()) this.#touch(m)
  }

  /** Stops mirroring (eviction); the caller deletes the keys. */
  detach(executionId: string): void {
    const m = this.#mirrors.get(executionId)
    if (!m) return
    m.off()
    m.offCheckpoint()
    m.follower.release()
    this.#mirrors.delete(executionId)
    this.#dirty.delete(m)
  }

  /**
   * Writes everything pending now; resolves once Redis holds it (and any batch it waited for),
   * rejects when it could not be written (it stays pending and is written later).
   */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing
    if (this.#closed) return
    this.#flushing = this.#flushFenced().finally(() => {
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
      m.offCheckpoint()
      m.follower.release()
    }
    this.#mirrors.clear()
    this.#dirty.clear()
  }

  #touch(m: Mirror): void {
    m.dirty = true
    this.#dirty.add(m)
    this.#schedule()
  }

  #mark(m: Mirror, what: { status: ExecutionStatus } | { close: StreamClose }): void {
    const seq = m.follower.lastSeq
    const id = { seq, sub: m.lastMarker.seq === seq ? m.lastMarker.sub + 1 : 1 }
    m.lastMarker = id
    m.markers.push({ id, ...what } as Marker)
    m.infoDue = true
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
        if (!this.#told.has(err) && this.#o.redis.status === 'ready') this.#o.onError(err, 'redis write')
      })
    })
  }

  /**
   * One batch, sent again when the fence dropped it (the next run re-reads which executions this
   * node still holds first): a caller's flush() is never answered while its writes were dropped.
   */
  async #flushFenced(): Promise<void> {
    for (let run = 0; run <= FENCE_RETRIES; run++) {
      if (await this.#flushOnce()) return
      if (this.#closed) return
    }
    this.#retryLater()
    throw new Error(`redis write: the fence dropped ${FENCE_RETRIES + 1} batches in a row`)
  }

  /** Sends one batch; false when the fence dropped it (nothing written, all of it pending again). */
  async #flushOnce(): Promise<boolean> {
    if (!this.#fence.armed) await this.#fence.arm()
    if (this.#fence.moved) await this.#check()
    const batch = [...this.#dirty]
    if (batch.length === 0) return true
    // The snapshot parts only the local broker knows (interrupts, error, result) come async;
    // gather until they agree with the follower's status, then build the batch without awaiting.
    // Only events came for a mirror whose info is not due: its last snapshot still holds (a
    // promise and a snapshot per event were most of a batch's own work at 5,000 streams, issue 18).
    // Decided before the await: a marker or a boundary that comes meanwhile sets infoDue again.
    const due = batch.map((m) => {
      const d = m.infoDue || !m.lastInfo || isTerminal(m.follower.status)
      if (d) m.infoDue = false
      return d
    })
    let snaps: Snap[] = []
    for (let tries = 0; tries < 10; tries++) {
      snaps = await Promise.all(batch.map((m, i) => (due[i] ? this.#snapshot(m) : UNCHANGED)))
      if (
        batch.every(
          (m, i) =>
            snaps[i] === UNCHANGED ||
            snaps[i]!.info === undefined ||
            snaps[i]!.info!.status === m.follower.status,
        )
      )
        break
    }
    const plans: Plan[] = []
    const commands: Command[] = [['multi']]
    batch.forEach((m, i) => {
      const snap = snaps[i]!
      // Due since the await: it waits for the next batch, which takes its snapshot (never a
      // marker in the log with the hash behind it).
      if (snap === UNCHANGED && m.infoDue) return
      m.dirty = false
      this.#dirty.delete(m)
      const plan =
        snap === UNCHANGED
          ? this.#plan(m, m.lastInfo, undefined, true)
          : this.#plan(m, snap.info ?? m.lastInfo, snap.outcome, false)
      if (!plan) return
      plan.from = commands.length
      commands.push(...plan.commands)
      plans.push(plan)
    })
    // One ring for the whole batch, inside its MULTI: a follower sees only what it committed.
    const ring = new RingBuilder(this.#o.ringBytes ?? 0)
    for (const p of plans) if (p.appended) this.#ringFor(ring, p)
    if (!ring.empty) commands.push(['publish', this.#o.keys.ticks(), ring.message()])
    const fence = this.#fence.commands()
    commands.push(['exec'], ...fence)
    if (!this.#fence.armed) {
      // Disarmed meanwhile (a reconnect): never send an EXEC that no WATCH guards.
      for (const p of plans) this.#unconfirmed(p.m, p.markers)
      this.#retryLater()
      // Not told: the 'ready' handler writes it again, as after any disconnect.
      const lost = new Error('redis write: the connection was lost before the batch was sent')
      this.#told.add(lost)
      throw lost
    }
    let replies: BatchReply[]
    try {
      replies = await this.#send(commands)
    } catch (err) {
      // Nothing is confirmed: put the markers back in front and try again once Redis answers.
      for (const p of plans) this.#unconfirmed(p.m, p.markers)
      this.#retryLater()
      throw err
    }
    this.#fence.settle(replies.slice(commands.length - fence.length))
    const [execErr, results] = replies[commands.length - fence.length - 1] ?? [
      new Error('no EXEC reply'),
      null,
    ]
    if (execErr || !Array.isArray(results)) {
      // null: the fence moved after the WATCH, Redis dropped the whole batch; the next one checks
      // the hashes first. An error: a command was refused as queued, nothing ran.
      for (const p of plans) this.#unconfirmed(p.m, p.markers)
      if (!execErr) return false
      this.#retryLater()
      throw this.#reported(execErr)
    }
    let refused: Error | undefined
    for (const p of plans) {
      // EXEC's results are those of the queued commands, after the MULTI.
      const own = results.slice(p.from - 1, p.from - 1 + p.commands.length) as unknown[]
      const err = own.find((r): r is Error => r instanceof Error && !r.message.includes(ALREADY_WRITTEN))
      if (err) {
        this.#unconfirmed(p.m, p.markers)
        this.#retryLater()
        const told = this.#reported(err)
        refused ??= told
        continue
      }
      const m = p.m
      m.writtenSeq = Math.max(m.writtenSeq, p.seq)
      if (idAfter(p.id, m.writtenId)) m.writtenId = p.id
      m.trimmedTo = p.trimmedTo
      for (const [k, v] of p.fields) m.hash.set(k, v)
      m.listed = p.listed
      m.confirmed = true
      m.certain = true
    }
    if (this.#dirty.size > 0) this.#schedule()
    this.#o.onWritten?.()
    if (refused) throw refused
    return true
  }

  /**
   * One execution's part of a batch: its new entries (events up to each marker, then the marker),
   * the trim, the hash fields that changed, the `runs` set and, once final, the TTL. `eventsOnly`:
   * the mirror's info is not due (only events came), so of the hash only `firstSeq` can have moved.
   */
  #plan(
    m: Mirror,
    info: ExecutionInfo | undefined,
    outcome: ExecutionOutcome | undefined,
    eventsOnly: boolean,
  ): Plan | undefined {
    if (!info) return undefined
    m.lastInfo = info
    const { keys, nodeId, finishedTtlMs } = this.#o
    const log = keys.log(m.id)
    const meta = keys.meta(m.id)
    const markers = m.markers.splice(0)
    const commands: Command[] = []
    let seq = m.writtenSeq
    let top = m.writtenId
    const eventsUpTo = (upTo: number) => {
      while (seq < upTo) {
        const r = m.follower.read(seq, 1024)
        if (r.gap) seq = Math.min(upTo, r.gap.to)
        for (const e of r.entries) {
          if (e.seq > upTo) break
          commands.push(['xadd', log, `${e.seq}-0`, 'e', e.json])
          seq = e.seq
          top = { seq: e.seq, sub: 0 }
        }
        if (r.entries.length === 0 && !r.gap) break
      }
    }
    for (const mk of markers) {
      eventsUpTo(mk.id.seq)
      const id = formatId(mk.id)
      if ('status' in mk) commands.push(['xadd', log, id, 's', mk.status])
      else commands.push(['xadd', log, id, 'c', JSON.stringify(mk.close)])
      if (idAfter(mk.id, top)) top = mk.id
    }
    const head = m.follower.lastSeq
    eventsUpTo(head)
    const appended = commands.length > 0
    const probe = m.follower.read(0, 1)
    let firstSeq = probe.gap ? probe.gap.to + 1 : (probe.entries[0]?.seq ?? head + 1)
    // Resumed here: what came before the local log is in Redis only, kept until the log trims.
    if (m.base > 0 && firstSeq <= m.base + 1) firstSeq = m.trimmedTo
    if (firstSeq > m.trimmedTo) commands.push(['xtrim', log, 'MINID', '=', `${firstSeq}-0`])
    const fields = eventsOnly
      ? this.#seqFields(m, head, firstSeq)
      : this.#changedFields(m, info, outcome, head, firstSeq)
    if (fields.length > 0) commands.push(['hset', meta, ...fields.flat()])
    let listed = m.listed
    if (isTerminal(m.follower.status)) {
      commands.push(
        ['hdel', meta, 'checkpoint'],
        ['pexpire', meta, finishedTtlMs],
        ['pexpire', log, finishedTtlMs],
        ['srem', keys.runs(nodeId), m.id],
      )
      listed = false
    } else if (!listed) {
      commands.push(['sadd', keys.runs(nodeId), m.id])
      listed = true
    }
    return {
      m,
      markers,
      commands,
      from: 0,
      fields,
      listed,
      seq,
      id: top,
      trimmedTo: Math.max(m.trimmedTo, firstSeq),
      appended,
      before: m.certain ? m.writtenId : undefined,
    }
  }

  /** The hash fields whose value differs from what Redis holds, from the execution's snapshot now. */
  #changedFields(
    m: Mirror,
    info: ExecutionInfo,
    outcome: ExecutionOutcome | undefined,
    head: number,
    firstSeq: number,
  ): [string, string][] {
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
    const fields = Object.entries(metaFields(snapshot, this.#o.nodeId, m.retention, outcome)).filter(
      ([k, v]) => m.hash.get(k) !== v,
    )
    const checkpoint = m.checkpointDue && !isTerminal(snapshot.status) ? this.#checkpoint(m) : undefined
    m.checkpointDue = false
    if (checkpoint !== undefined) fields.push(['checkpoint', checkpoint])
    // `lastSeq` alone moves with every event: it rides along with other changes only, readers
    // take the log's top for it (meta.ts readInfo); an HSET for it was a command per event.
    if (fields.length === 1 && fields[0]![0] === 'lastSeq') fields.length = 0
    return fields
  }

  /** Only events came: `firstSeq` once the log trimmed (with `lastSeq` riding along), else nothing. */
  #seqFields(m: Mirror, head: number, firstSeq: number): [string, string][] {
    const first = String(firstSeq)
    if (m.hash.get('firstSeq') === first) return []
    return [
      ['lastSeq', String(head)],
      ['firstSeq', first],
    ]
  }

  /**
   * The fence moved (or the lease lapsed): under the WATCH now in force, read which executions
   * this node no longer holds (`node` emptied by a sweep or a hand-over, or another node's). Those are reported fenced; every other one is written again in full
   * from the `runs` set on, since the sweep may have dropped that set.
   */
  async #check(): Promise<void> {
    const mirrors = [...this.#mirrors.values()]
    const pipe = this.#o.redis.pipeline()
    for (const m of mirrors) pipe.hget(this.#o.keys.meta(m.id), 'node')
    const rows = mirrors.length > 0 ? ((await pipe.exec()) ?? []) : []
    const fenced: string[] = []
    mirrors.forEach((m, i) => {
      const [err, value] = rows[i] ?? [new Error('no reply'), null]
      if (err) throw err
      const node = value as string | null
      if (node != null && node !== this.#o.nodeId) fenced.push(m.id)
      else {
        m.listed = false
        m.infoDue = true
        this.#touch(m)
      }
    })
    // A reconnect meanwhile disarmed the fence: these reads may predate a sweep; check again.
    if (!this.#fence.armed) return
    this.#fence.checked()
    if (fenced.length > 0) this.#o.onFenced(fenced)
  }

  /**
   * The execution's checkpoint JSON, or undefined when there is none to write this tick: a child
   * flow running (saved once it waits), or over the size limit (the execution is failed).
   */
  #checkpoint(m: Mirror): string | undefined {
    const c = this.#o.checkpoints
    if (!c) return undefined
    let json: string
    try {
      const snap = c.save(m.id)
      if (!snap) return undefined
      json = JSON.stringify(snap)
    } catch {
      return undefined
    }
    const bytes = Buffer.byteLength(json)
    if (bytes <= c.maxBytes) return json
    c.onTooLarge(
      m.id,
      new FlowcastError(
        'checkpoint_too_large',
        `execution ${m.id}: its checkpoint is ${bytes} bytes, over the ${c.maxBytes} byte limit (checkpointMaxBytes)`,
      ),
    )
    return undefined
  }

  /** Names a plan's log in the batch's ring, with its entries when Redis's top before them is known. */
  #ringFor(ring: RingBuilder, p: Plan): void {
    const entries: string[] = []
    if (p.before)
      for (const c of p.commands)
        if (c[0] === 'xadd') entries.push(c[2] as string, c[3] as string, c[4] as string)
    ring.add(this.#o.keys.log(p.m.id), formatId(p.id), p.before && formatId(p.before), entries)
  }

  /** Puts a batch's markers back in front of newer ones and marks the mirror to be written again. */
  #unconfirmed(m: Mirror, markers: Marker[]): void {
    // Its writes may have landed (a lost reply): Redis's top is no longer known for certain.
    m.certain = false
    m.markers = [...markers, ...m.markers]
    m.dirty = true
    if (this.#mirrors.get(m.id) === m) this.#dirty.add(m)
    m.checkpointDue = true
    m.infoDue = true
  }

  async #snapshot(m: Mirror): Promise<Snap> {
    const info = await this.#o.local.info(m.id)
    const outcome = info && isTerminal(info.status) ? await this.#o.local.result(m.id, 0) : undefined
    return { info, outcome }
  }

  /** Tells onError of a refusal now (once per refusal, whoever awaits the flush), and returns it. */
  #reported(err: Error): Error {
    if (this.#o.redis.status === 'ready') this.#o.onError(err, 'redis write')
    this.#told.add(err)
    return err
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
      // What Redis holds of the hash and the set is unknown now: the next batch writes them whole.
      m.hash.clear()
      m.infoDue = true
      m.listed = false
      m.certain = false
      this.#touch(m)
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
