/**
 * The Redis broker: executions run on the node that started them (an in-process MemoryBroker),
 * and everything other nodes need lives in Redis under one key prefix (see redis/keys.ts):
 * the runtime-stream log as a Stream with the seq as the entry id, status/result/metadata in a
 * hash, commands over pub/sub to the running node. Any node serves any subscriber: the running
 * node serves its own from memory, every other node follows the stream through its ONE reader,
 * woken by the deployment's doorbell (redis/reader.ts).
 */

import {
  DEFAULT_RETENTION,
  type ExecutionSnapshot,
  type Retention,
  type RetentionBudget,
  type TriggerFlow,
} from '@flowcast/flows'
import { FlowcastError, isTerminal } from '@flowcast/protocol'
import { Redis, type RedisOptions } from 'ioredis'
import { nanoid } from 'nanoid'
import { DEFAULT_LIMITS } from '../options.ts'
import type {
  Broker,
  BrokerCommand,
  BrokerRead,
  CommandOutcome,
  ExecutionInfo,
  ExecutionOutcome,
  Follower,
  StartOptions,
  StatusListener,
} from './broker.ts'
import { errorShape } from './error-shape.ts'
import { MemoryBroker } from './memory.ts'
import { Claims, type Taken } from './redis/claim.ts'
import { CommandBus, unavailable } from './redis/commands.ts'
import { DEFAULT_KEY_PREFIX, type EntryId, RedisKeys } from './redis/keys.ts'
import { NodeLease, nodeLostMessage } from './redis/lease.ts'
import { type LinkChange, RedisLink, retryDelayMs } from './redis/link.ts'
import { outcomeOf, readInfo } from './redis/meta.ts'
import { OwnFollower } from './redis/own-follower.ts'
import { StreamReader, type StreamRecord, toRecord } from './redis/reader.ts'
import { RemoteLogs } from './redis/remote-logs.ts'
import { MirrorWriter } from './redis/writer.ts'

export interface RedisBrokerOptions {
  /** redis://host:port/db */
  url: string
  /** Prefix of every key and channel; default DEFAULT_KEY_PREFIX (`flowcast:`). */
  keyPrefix?: string
  /** How long a finished execution's keys live in Redis. */
  finishedTtlMs: number
  /** How long a command waits for the running node's reply; default 5000. */
  commandTimeoutMs?: number
  /**
   * How long one connection attempt may take; default 3000. `connect()` waits at most this long
   * for Redis: a node whose Redis is down starts anyway, not ready, and retries for ever.
   */
  connectTimeoutMs?: number
  /**
   * How long this node's lease lasts unrenewed (renewed every third of it); past it, other nodes
   * end its running executions as failed with `node_lost`. Default: the `nodeLeaseMs` limit's.
   */
  leaseMs?: number
  /**
   * The node's bound on retained stream bytes: it covers what this node holds in memory (the logs
   * of executions it runs and its caches of logs it follows), not Redis's own. Default: none.
   */
  budget?: RetentionBudget
  /** How long a copy of a remote log stays after its last room closed; default the `followerLingerMs` limit's. */
  lingerMs?: number
  /** The most bytes such lingering copies hold together; default the `followerLingerBytes` limit's. */
  lingerBytes?: number
  /** How often the reader reads every followed stream, rung or not (0: never); default 5 s. */
  sweepMs?: number
  /** Most bytes of entries a write batch's doorbell carries (redis/ring.ts); default the `doorbellBytes` limit's. */
  doorbellBytes?: number
  onError?: (err: unknown, context: string) => void
  /** Told once per change of the node's link to Redis (down, up), the first outcome included. */
  onLink?: (change: LinkChange) => void
  /** The flows this node can resume from a checkpoint (claims of other nodes' executions). */
  flows?: TriggerFlow<any>[]
  /** Largest checkpoint (JSON bytes); over it the execution fails with `checkpoint_too_large`. */
  checkpointMaxBytes?: number
  /** Largest stream item of an execution resumed here (as StartOptions.maxItemBytes). */
  maxItemBytes?: number
  /** Told each execution this node took over from a checkpoint (for the log). */
  onClaimed?: (executionId: string, flow: string) => void
}

/** How long a room's follower waits before trying Redis again after a failed rejoin. */
const RETRY_MS = 500

/** Most claimable executions one node looks at per lease period. */
const CLAIMS_PER_PERIOD = 64

/**
 * Commands fail fast while Redis is away (no offline queue, no silent retries) so that routes
 * answer 503 at once; the connections themselves reconnect forever with a capped backoff
 * (redis/link.ts).
 */
function connectionOptions(connectTimeout: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout,
    retryStrategy: retryDelayMs,
  }
}

/** Runs executions here and shares them with every node on the same Redis and key prefix. */
export class RedisBroker implements Broker {
  readonly kind = 'redis'
  readonly nodeId = nanoid(12)
  readonly keys: RedisKeys
  readonly #local: MemoryBroker
  readonly #budget: RetentionBudget | undefined
  readonly #redis: Redis
  /** The reader's connection: non-blocking XREADs of the streams whose doorbell rang. */
  readonly #reads: Redis
  readonly #sub: Redis
  /** The writer's own connection: its WATCH is the write fence (redis/fence.ts). */
  readonly #writes: Redis
  readonly #reader: StreamReader
  readonly #remote: RemoteLogs
  readonly #writer: MirrorWriter
  readonly #lease: NodeLease
  readonly #bus: CommandBus
  readonly #link: RedisLink
  readonly #claims: Claims
  readonly #flows = new Map<string, TriggerFlow<any>>()
  readonly #waits = new Set<() => void>()
  readonly #onError: (err: unknown, context: string) => void
  readonly #options: RedisBrokerOptions
  /**
   * Executions resumed here from another node's checkpoint: their log before the resume is in
   * Redis only, so reads and follows go through Redis like any other node's.
   */
  readonly #resumed = new Set<string>()
  /** The rooms' followers of executions started here, by execution (redis/own-follower.ts). */
  readonly #own = new Map<string, Set<OwnFollower>>()
  /** Those of them holding news back while this node is unsure. */
  readonly #holding = new Set<OwnFollower>()
  /** Claimable executions of flows this node lacks, at the last look. */
  #unclaimable = 0
  #scanning = false
  /** A take's reply may have been lost (a disconnect): look for executions Redis says are ours. */
  #orphansUnchecked = true
  /** A hand-over that Redis did not confirm: the lease must lapse (not be given back) so others sweep. */
  #keepLease = false
  #draining = false
  #closed = false

  private constructor(options: RedisBrokerOptions) {
    this.keys = new RedisKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX)
    this.#options = options
    for (const f of options.flows ?? []) this.#flows.set(f.name, f)
    this.#budget = options.budget
    this.#local = new MemoryBroker(options.budget ? { budget: options.budget } : {})
    const onError = options.onError ?? ((err, ctx) => console.error(`[flowcast] ${ctx}:`, err))
    this.#onError = onError
    const conn = connectionOptions(options.connectTimeoutMs ?? 3000)
    this.#redis = new Redis(options.url, { ...conn, connectionName: `flowcast:${this.nodeId}:cmd` })
    this.#reads = new Redis(options.url, { ...conn, connectionName: `flowcast:${this.nodeId}:read` })
    this.#sub = new Redis(options.url, { ...conn, connectionName: `flowcast:${this.nodeId}:sub` })
    this.#writes = new Redis(options.url, { ...conn, connectionName: `flowcast:${this.nodeId}:write` })
    // Before the reader, lease and writer subscribe to 'ready': the link joins first.
    this.#link = new RedisLink({
      connections: this.#connections(),
      join: async () => {
        await this.#lease.start()
        await this.#bus.start()
      },
      onChange: (change) => {
        this.#recheck()
        options.onLink?.(change)
      },
    })
    this.#reader = new StreamReader({
      conn: this.#reads,
      sub: this.#sub,
      bell: this.keys.ticks(),
      onError,
      ...(options.sweepMs === undefined ? {} : { sweepMs: options.sweepMs }),
    })
    this.#remote = new RemoteLogs({
      redis: this.#redis,
      keys: this.keys,
      reader: this.#reader,
      lingerMs: options.lingerMs ?? DEFAULT_LIMITS.followerLingerMs,
      lingerBytes: options.lingerBytes ?? DEFAULT_LIMITS.followerLingerBytes,
      ...(options.budget ? { budget: options.budget } : {}),
      call: (fn) => this.#call(fn),
    })
    this.#claims = new Claims(this.#redis, this.keys, this.nodeId)
    this.#redis.on('close', () => {
      this.#orphansUnchecked = true
    })
    // The lease renews as soon as the command connection is back; the writer rewrites on its own
    // connection, which may come back first: harmless, since other nodes sweep only after being
    // connected for a whole lease themselves.
    this.#lease = new NodeLease({
      redis: this.#redis,
      keys: this.keys,
      nodeId: this.nodeId,
      leaseMs: options.leaseMs ?? DEFAULT_LIMITS.nodeLeaseMs,
      finishedTtlMs: options.finishedTtlMs,
      onError,
      claims: this.#claims,
      onLapsed: () => this.#writer.suspect(),
      onRenewed: () => {
        this.#recheck()
        void this.#claimScan()
      },
    })
    this.#writer = new MirrorWriter({
      redis: this.#writes,
      keys: this.keys,
      nodeId: this.nodeId,
      local: this.#local,
      finishedTtlMs: options.finishedTtlMs,
      onError,
      onFenced: (ids) => this.#fence(ids),
      onWritten: () => this.#recheck(),
      ringBytes: options.doorbellBytes ?? DEFAULT_LIMITS.doorbellBytes,
      checkpoints: {
        save: (id) => this.#local.save(id),
        listen: (id, listener) => this.#local.onCheckpoint(id, listener),
        maxBytes: options.checkpointMaxBytes ?? DEFAULT_LIMITS.checkpointMaxBytes,
        // Not from inside the batch being built: the failure is the next batch's news.
        onTooLarge: (id, error) => queueMicrotask(() => this.#local.terminate(id, error)),
      },
    })
    this.#bus = new CommandBus({
      pub: this.#redis,
      sub: this.#sub,
      keys: this.keys,
      nodeId: this.nodeId,
      timeoutMs: options.commandTimeoutMs,
      onError,
      handle: (id, command) => {
        if (!this.#writer.has(id)) throw new FlowcastError('not_found', `no execution "${id}" on this node`)
        return this.#commandHere(id, command)
      },
    })
  }

  /**
   * Opens the four connections (commands, reader, pub/sub, writes); once they are ready the
   * node takes its lease and joins its channel. Resolves when that is done, or when the first
   * attempt failed, or after `connectTimeoutMs`: a node whose Redis is down is not ready
   * (`health()`, broker_unavailable) and becomes ready by itself when Redis answers.
   */
  static async connect(options: RedisBrokerOptions): Promise<RedisBroker> {
    const broker = new RedisBroker(options)
    await broker.#link.open(options.connectTimeoutMs ?? 3000)
    return broker
  }

  async start(flow: TriggerFlow<any>, input: unknown, options: StartOptions): Promise<ExecutionInfo> {
    this.#ready()
    const info = await this.#local.start(flow, input, options)
    const id = info.executionId
    const follower = await this.#local.follow(id)
    try {
      if (!follower) throw new Error('the execution vanished at start')
      await this.#writer.attach(follower, options.retention)
    } catch (err) {
      // Nobody else could watch it: do not leave it running unseen.
      this.#writer.detach(id)
      await this.#local.evict(id)
      throw unavailable(err)
    }
    return (await this.#local.info(id)) ?? info
  }

  terminate(executionId: string, error: FlowcastError): boolean {
    // The writer mirrors the failure to Redis like any status change of a local execution.
    return this.#writer.has(executionId) && this.#local.terminate(executionId, error)
  }

  async info(executionId: string): Promise<ExecutionInfo | undefined> {
    if (this.#servesLocally(executionId)) return this.#local.info(executionId)
    return this.#call(() => readInfo(this.#redis, this.keys, executionId))
  }

  async result(executionId: string, waitMs: number): Promise<ExecutionOutcome | undefined> {
    if (this.#servesLocally(executionId)) return this.#local.result(executionId, waitMs)
    const meta = this.keys.meta(executionId)
    const first = outcomeOf(await this.#call(() => this.#redis.hgetall(meta)))
    if (!first || isTerminal(first.status) || waitMs <= 0) return first
    // Take the stream's top first, then the hash: a final status written after that top is a
    // marker the watch below will see (hash and stream are written in one MULTI).
    const cursor = await this.#top(executionId)
    const now = outcomeOf(await this.#call(() => this.#redis.hgetall(meta)))
    if (!now || isTerminal(now.status)) return now
    await new Promise<void>((resolve) => {
      const watch = {
        key: this.keys.log(executionId),
        cursor,
        onRecords: (records: StreamRecord[]) => {
          if (records.some((r) => isTerminal(r.fields.s))) done()
        },
      }
      const timer = setTimeout(done, waitMs)
      const waits = this.#waits
      const reader = this.#reader
      waits.add(done)
      reader.add(watch)
      function done(): void {
        clearTimeout(timer)
        reader.remove(watch)
        waits.delete(done)
        resolve()
      }
    })
    return outcomeOf(await this.#call(() => this.#redis.hgetall(meta))) ?? now
  }

  async read(executionId: string, after: number, limit: number): Promise<BrokerRead | undefined> {
    if (this.#servesLocally(executionId)) return this.#local.read(executionId, after, limit)
    const status = await this.#call(() => this.#redis.hget(this.keys.meta(executionId), 'status'))
    if (!status) return undefined
    const log = this.keys.log(executionId)
    const expected = Math.max(0, after) + 1
    const out: BrokerRead = { entries: [] }
    let start = `${expected}-0`
    while (out.entries.length < limit) {
      // A few more than needed: markers share the range with events.
      const want = limit - out.entries.length + 8
      const rows = (await this.#call(() => this.#redis.xrange(log, start, '+', 'COUNT', want))) as [
        string,
        string[],
      ][]
      for (const row of rows) {
        const r = toRecord(row)
        if (r.fields.e === undefined) continue
        // The first retained event tells exactly what retention took: announce it, never skip it.
        if (out.entries.length === 0 && !out.gap && r.id.seq > expected)
          out.gap = { from: expected, to: r.id.seq - 1 }
        if (out.entries.length < limit) out.entries.push({ seq: r.id.seq, json: r.fields.e })
      }
      if (rows.length < want) break
      start = `(${rows[rows.length - 1]![0]}`
    }
    return out
  }

  async follow(executionId: string, after = 0): Promise<Follower | undefined> {
    if (!this.#servesLocally(executionId)) return this.#remote.follow(executionId, after)
    const local = await this.#local.follow(executionId)
    if (!local) return undefined
    // Fenced or handed over meanwhile: its rooms follow Redis from the start.
    if (!this.#servesLocally(executionId)) {
      local.release()
      return this.#remote.follow(executionId, after)
    }
    const own = this.#own.get(executionId) ?? new Set<OwnFollower>()
    this.#own.set(executionId, own)
    const follower = new OwnFollower(local, {
      unsure: () => this.#unsure(),
      onHold: (f) => this.#holding.add(f),
      onRelease: (f) => {
        this.#holding.delete(f)
        own.delete(f)
        if (own.size === 0 && this.#own.get(executionId) === own) this.#own.delete(executionId)
      },
    })
    own.add(follower)
    return follower
  }

  command(executionId: string, command: BrokerCommand): Promise<CommandOutcome> {
    return this.#route(executionId, command, 1)
  }

  /** Sends a command to where the execution is: here, taken here, or its holder over the bus. */
  async #route(executionId: string, command: BrokerCommand, moves: number): Promise<CommandOutcome> {
    if (this.#writer.has(executionId)) return this.#commandHere(executionId, command, moves)
    const meta = this.keys.meta(executionId)
    let node = await this.#call(() => this.#redis.hget(meta, 'node'))
    if (node === null) throw new FlowcastError('not_found', `no execution "${executionId}"`)
    if (node === '') {
      if (this.#draining)
        throw new FlowcastError('draining', 'this node is shutting down: send the command to another node')
      // Nobody holds it (it waits for this very answer, or for a claim): this node takes it.
      if (await this.#take(executionId, 'any')) return this.#commandHere(executionId, command, moves)
      node = await this.#call(() => this.#redis.hget(meta, 'node'))
      if (!node) throw new FlowcastError('broker_unavailable', `no node can run execution ${executionId} now`)
    }
    return this.#bus.send(node, executionId, command)
  }

  async handOver(executionId: string): Promise<boolean> {
    if (this.#closed) return false
    return this.#handOver(executionId)
  }

  async #handOver(executionId: string): Promise<boolean> {
    if (!this.#writer.has(executionId)) return false
    // Silence first: what the local copy does from now on reaches neither a subscriber here nor
    // Redis, so every watcher's last seq is one Redis has and the next holder goes on after it.
    this.#local.mute(executionId)
    const own = this.#leave(executionId)
    let released = false
    let confirmed = 0
    try {
      await this.#writer.flush()
      confirmed = this.#writer.writtenSeq(executionId)
      this.#writer.detach(executionId)
      released = await this.#claims.release(executionId)
    } catch (err) {
      this.#onError(err, 'redis hand-over')
    }
    this.#writer.detach(executionId)
    this.#resumed.delete(executionId)
    // This node's rooms go on from Redis, as on any other node, until the node closes.
    void this.#rejoin(
      executionId,
      own,
      confirmed,
      new FlowcastError('shutdown', 'handed over to another node'),
    )
    // Not released: still ours in Redis; only a lapsed lease makes another node sweep it.
    if (!released) this.#keepLease = true
    return released
  }

  unclaimable(): number {
    return this.#unclaimable
  }

  drain(): void {
    this.#draining = true
  }

  onStatus(listener: StatusListener): () => void {
    return this.#local.onStatus(listener)
  }

  async evict(executionId: string): Promise<void> {
    if (!this.#writer.has(executionId)) return
    this.#writer.detach(executionId)
    this.#resumed.delete(executionId)
    await this.#local.evict(executionId)
    await this.#redis
      .multi()
      .del(this.keys.log(executionId), this.keys.meta(executionId))
      .srem(this.keys.runs(this.nodeId), executionId)
      .exec()
      .catch(() => undefined)
  }

  retainedBytes(): number {
    return this.#local.retainedBytes()
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    if (this.#closed) return { ok: false, detail: 'closed' }
    if (!this.#link.up) return { ok: false, detail: this.#link.detail() }
    try {
      const timeout = new Promise<never>((_, reject) => {
        setTimeout(() => reject(new Error('no PING answer within 1000 ms')), 1000).unref()
      })
      await Promise.race([this.#redis.ping(), timeout])
      return { ok: true, detail: `node ${this.nodeId}, following ${this.#reader.streams} streams` }
    } catch (err) {
      return { ok: false, detail: `redis: ${err instanceof Error ? err.message : String(err)}` }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // A drained node hands over what is still here (one claimed while the drain began).
    if (this.#draining && this.#redis.status === 'ready')
      for (const id of this.#writer.ids()) if (!isTerminal(this.#writer.status(id))) await this.#handOver(id)
    this.#link.close()
    for (const done of [...this.#waits]) done()
    this.#bus.close()
    // Cancel what runs here and tell the other nodes before leaving, if Redis still answers.
    await this.#local.close()
    let told = false
    if (this.#redis.status === 'ready') {
      told = await Promise.race([
        this.#writer.flush().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((r) => setTimeout(() => r(false), 1000).unref()),
      ])
    }
    // Give the lease back only once Redis knows how each execution ended; else let it pass, so
    // that another node ends them as node_lost.
    await this.#lease.close(told && !this.#keepLease)
    this.#writer.close()
    this.#remote.close()
    await this.#reader.close()
    for (const c of this.#connections()) c.disconnect()
  }

  /**
   * Another node took these executions away while this node's lease had passed (it was blocked
   * or cut off, not dead). Redis already refuses its writes; stop the local copy too, so that it
   * stops working and this node answers for it from Redis like every other node.
   */
  #fence(executionIds: string[]): void {
    for (const id of executionIds) {
      if (!this.#writer.has(id)) continue
      const own = this.#leave(id)
      const confirmed = this.#writer.writtenSeq(id)
      this.#writer.detach(id)
      this.#resumed.delete(id)
      const error = new FlowcastError('node_lost', nodeLostMessage(id))
      // Stopped now (this node's status listeners hear it end); its rooms go on from Redis.
      this.#local.terminate(id, error)
      void this.#rejoin(id, own, confirmed, error)
      this.#onError(
        new FlowcastError(
          'node_lost',
          `execution ${id} was taken from this node while its lease had passed; stopped here, its writes are refused, it goes on from its checkpoint elsewhere`,
        ),
        'redis fence',
      )
    }
  }

  /** Tells this node's own followers of `executionId` that it is no longer this node's. */
  #leave(executionId: string): OwnFollower[] {
    const own = [...(this.#own.get(executionId) ?? [])]
    for (const f of own) f.leave()
    return own
  }

  /**
   * Moves the rooms' followers of an execution that is no longer this node's onto the Redis log
   * (from its start: a member catching up reads there too), then forgets the local copy. Redis
   * unavailable: tried again every RETRY_MS while a room holds one of them.
   */
  async #rejoin(
    executionId: string,
    own: OwnFollower[],
    confirmed: number,
    error: FlowcastError,
  ): Promise<void> {
    try {
      for (const f of own) {
        while (!f.released && !this.#closed) {
          try {
            f.switchTo(await this.#remote.follow(executionId, 0), confirmed)
            break
          } catch (err) {
            if (this.#link.up) this.#onError(err, 'redis rejoin')
            await new Promise((r) => setTimeout(r, RETRY_MS).unref())
          }
        }
      }
    } finally {
      // Taken back meanwhile (a claim after the next holder died): the local copy is a new one.
      if (!this.#writer.has(executionId)) this.#local.abandon(executionId, error)
    }
  }

  /** True while what the local copies do may not be what Redis keeps (lease in doubt, fence check due). */
  #unsure(): boolean {
    return this.#link.up && (!this.#lease.sure || this.#writer.unsure)
  }

  /** The node may be sure again: its own followers tell what they held. */
  #recheck(): void {
    if (this.#holding.size === 0 || this.#unsure()) return
    for (const f of [...this.#holding]) if (f.recheck()) this.#holding.delete(f)
  }

  /**
   * Runs a command on an execution held here and answers once what it changed (the checkpoint of
   * an answered interrupt above all) is in Redis: an answer acknowledged is never lost with the node.
   */
  async #commandHere(executionId: string, command: BrokerCommand, moves = 1): Promise<CommandOutcome> {
    const outcome = await this.#local.command(executionId, command)
    try {
      await this.#writer.flush()
    } catch (err) {
      throw new FlowcastError(
        'broker_unavailable',
        `execution ${executionId}: the command could not be saved to redis (${err instanceof Error ? err.message : String(err)}); send it again`,
      )
    }
    // The flush met a fence and found the execution taken away: the command went to a copy that
    // no longer counts. Sent again, it goes where the execution is now (once: a second move in
    // the same breath is a node that cannot hold anything, and is said so).
    if (this.#writer.has(executionId)) return outcome
    if (moves === 0)
      throw new FlowcastError(
        'broker_unavailable',
        `execution ${executionId} moved while the command ran; send it again`,
      )
    return this.#route(executionId, command, moves - 1)
  }

  /** True when this node runs the execution from its start: its whole log is in memory here. */
  #servesLocally(executionId: string): boolean {
    return this.#writer.has(executionId) && !this.#resumed.has(executionId)
  }

  /**
   * Once per lease period: claim what no node holds and this node can run (their node died or
   * drained), and what Redis says this node holds but it does not run (a take whose reply was lost).
   */
  async #claimScan(): Promise<void> {
    if (this.#scanning || this.#closed || this.#draining || !this.#link.up) return
    this.#scanning = true
    try {
      const ids = await this.#claims.claimable(CLAIMS_PER_PERIOD)
      const flows = ids.length > 0 ? await this.#flowsOf(ids) : []
      let unclaimable = 0
      for (const [i, id] of ids.entries()) {
        if (this.#closed || this.#draining) return
        if (this.#writer.has(id)) continue
        if (!this.#flows.has(flows[i] ?? '')) unclaimable++
        else await this.#take(id, 'running')
      }
      this.#unclaimable = unclaimable
      if (this.#orphansUnchecked) {
        this.#orphansUnchecked = false
        const mine = await this.#redis.smembers(this.keys.runs(this.nodeId))
        for (const id of mine) if (!this.#writer.has(id) && !this.#closed) await this.#take(id, 'any')
      }
    } catch (err) {
      this.#orphansUnchecked = true
      if (this.#link.up) this.#onError(err, 'redis claim')
    } finally {
      this.#scanning = false
    }
  }

  async #flowsOf(ids: string[]): Promise<(string | undefined)[]> {
    const pipe = this.#redis.pipeline()
    for (const id of ids) pipe.hget(this.keys.meta(id), 'flow')
    const rows = (await pipe.exec()) ?? []
    return rows.map(([err, v]) => (err ? undefined : ((v as string | null) ?? undefined)))
  }

  /**
   * Makes this node the holder of a nodeless execution and resumes it from its checkpoint: the
   * running steps run again (`data.attempt` + 1), its log goes on after Redis's top entry. One that
   * cannot be restored is failed with `invalid_snapshot`, never left for another claim. False when
   * another node holds it, it has ended, or this node lacks its flow (then it stays nodeless).
   */
  async #take(executionId: string, mode: 'running' | 'any'): Promise<boolean> {
    if (this.#writer.has(executionId)) return true
    const taken = await this.#call(() => this.#claims.take(executionId, mode))
    if (!taken) return false
    const flow = this.#flows.get(taken.flow)
    if (!flow) {
      await this.#call(() => this.#claims.release(executionId))
      return false
    }
    const retention: Retention = taken.retention ?? { ...DEFAULT_RETENTION }
    try {
      const snapshot = this.#restorable(executionId, taken)
      this.#local.resume(flow, snapshot, {
        retention,
        ...(this.#options.maxItemBytes === undefined ? {} : { maxItemBytes: this.#options.maxItemBytes }),
      })
    } catch (err) {
      const error = errorShape(err)
      const shaped =
        error.code === 'invalid_snapshot' ? error : { code: 'invalid_snapshot', message: error.message }
      await this.#call(() => this.#claims.fail(executionId, shaped, this.#options.finishedTtlMs))
      this.#onError(
        new FlowcastError(
          'invalid_snapshot',
          `execution ${executionId} cannot be resumed: ${shaped.message}`,
        ),
        'redis claim',
      )
      return false
    }
    this.#resumed.add(executionId)
    const follower = await this.#local.follow(executionId)
    if (!follower) return false
    try {
      await this.#writer.attach(follower, retention, { top: taken.top, firstSeq: taken.firstSeq })
    } catch (err) {
      // Still ours in Redis and listed in our runs: the writer writes it once Redis answers.
      this.#onError(err, 'redis claim')
    }
    this.#options.onClaimed?.(executionId, taken.flow)
    return true
  }

  /** The checkpoint a take returned, checked, its stream going on after what Redis holds. */
  #restorable(executionId: string, taken: Taken): ExecutionSnapshot {
    if (!taken.checkpoint)
      throw new FlowcastError('invalid_snapshot', `execution ${executionId} has no checkpoint in redis`)
    let snap: ExecutionSnapshot
    try {
      snap = JSON.parse(taken.checkpoint) as ExecutionSnapshot
    } catch {
      throw new FlowcastError('invalid_snapshot', `execution ${executionId}: its checkpoint is not JSON`)
    }
    if (typeof snap !== 'object' || snap === null || typeof snap.stream !== 'object')
      throw new FlowcastError(
        'invalid_snapshot',
        `execution ${executionId}: its checkpoint is not a snapshot`,
      )
    // Items the steps put after the checkpoint are in Redis: the stream goes on after them.
    snap.stream = { ...snap.stream, lastSeq: Math.max(snap.stream.lastSeq ?? 0, taken.top.seq) }
    return snap
  }

  #connections(): Redis[] {
    return [this.#redis, this.#reads, this.#sub, this.#writes]
  }

  /** Throws broker_unavailable unless the command connection is up. */
  #ready(): void {
    if (this.#closed) throw new FlowcastError('broker_unavailable', 'the broker is closed')
    if (!this.#link.up)
      throw new FlowcastError('broker_unavailable', `redis is unavailable (${this.#link.detail()})`)
  }

  /** Runs a Redis call, turning any failure into broker_unavailable. */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    this.#ready()
    try {
      return await fn()
    } catch (err) {
      throw unavailable(err)
    }
  }

  /** The id of the stream's newest entry ({0,0} when empty or absent). */
  async #top(executionId: string): Promise<EntryId> {
    const rows = (await this.#call(() =>
      this.#redis.xrevrange(this.keys.log(executionId), '+', '-', 'COUNT', 1),
    )) as [string, string[]][]
    return rows[0] ? toRecord(rows[0]).id : { seq: 0, sub: 0 }
  }
}
