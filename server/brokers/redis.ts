/**
 * The Redis broker: executions run on the node that started them (an in-process MemoryBroker),
 * and everything other nodes need lives in Redis under one key prefix (see redis/keys.ts):
 * the runtime-stream log as a Stream with the seq as the entry id, status/result/metadata in a
 * hash, commands over pub/sub to the running node. Any node serves any subscriber: the running
 * node serves its own from memory, every other node follows the stream through its ONE reader,
 * woken by the stream's doorbell (redis/reader.ts).
 */

import type { RetentionBudget, TriggerFlow } from '@flowcast/flows'
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
import { MemoryBroker } from './memory.ts'
import { CommandBus, unavailable } from './redis/commands.ts'
import { DEFAULT_KEY_PREFIX, type EntryId, RedisKeys } from './redis/keys.ts'
import { NodeLease, nodeLostMessage } from './redis/lease.ts'
import { type LinkChange, RedisLink, retryDelayMs } from './redis/link.ts'
import { infoOf, outcomeOf } from './redis/meta.ts'
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
  onError?: (err: unknown, context: string) => void
  /** Told once per change of the node's link to Redis (down, up), the first outcome included. */
  onLink?: (change: LinkChange) => void
}

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
  readonly #waits = new Set<() => void>()
  readonly #onError: (err: unknown, context: string) => void
  #closed = false

  private constructor(options: RedisBrokerOptions) {
    this.keys = new RedisKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX)
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
      ...(options.onLink ? { onChange: options.onLink } : {}),
    })
    this.#reader = new StreamReader({
      conn: this.#reads,
      sub: this.#sub,
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
      onLapsed: () => this.#writer.suspect(),
    })
    this.#writer = new MirrorWriter({
      redis: this.#writes,
      keys: this.keys,
      nodeId: this.nodeId,
      local: this.#local,
      finishedTtlMs: options.finishedTtlMs,
      onError,
      onFenced: (ids) => this.#fence(ids),
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
        return this.#local.command(id, command)
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
    if (this.#writer.has(executionId)) return this.#local.info(executionId)
    const h = await this.#call(() => this.#redis.hgetall(this.keys.meta(executionId)))
    return infoOf(executionId, h)
  }

  async result(executionId: string, waitMs: number): Promise<ExecutionOutcome | undefined> {
    if (this.#writer.has(executionId)) return this.#local.result(executionId, waitMs)
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
        bell: this.keys.tick(executionId),
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
    if (this.#writer.has(executionId)) return this.#local.read(executionId, after, limit)
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
    if (this.#writer.has(executionId)) return this.#local.follow(executionId)
    return this.#remote.follow(executionId, after)
  }

  async command(executionId: string, command: BrokerCommand): Promise<CommandOutcome> {
    if (this.#writer.has(executionId)) return this.#local.command(executionId, command)
    const node = await this.#call(() => this.#redis.hget(this.keys.meta(executionId), 'node'))
    if (!node) throw new FlowcastError('not_found', `no execution "${executionId}"`)
    return this.#bus.send(node, executionId, command)
  }

  onStatus(listener: StatusListener): () => void {
    return this.#local.onStatus(listener)
  }

  async evict(executionId: string): Promise<void> {
    if (!this.#writer.has(executionId)) return
    this.#writer.detach(executionId)
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
    await this.#lease.close(told)
    this.#writer.close()
    this.#remote.close()
    await this.#reader.close()
    for (const c of this.#connections()) c.disconnect()
  }

  /**
   * Another node ended these executions as node_lost while this node's lease had passed (it was
   * blocked or cut off, not dead). Redis already refuses its writes; stop the local copy too, so
   * that it stops working and this node answers for it from Redis like every other node.
   */
  #fence(executionIds: string[]): void {
    for (const id of executionIds) {
      if (!this.#writer.has(id)) continue
      this.#writer.detach(id)
      // The sweep's own words, so that this node's subscribers read the same error.
      this.#local.abandon(id, new FlowcastError('node_lost', nodeLostMessage(id)))
      this.#onError(
        new FlowcastError(
          'node_lost',
          `execution ${id} was ended as node_lost by another node while this node's lease had passed; stopped here, its writes are refused`,
        ),
        'redis fence',
      )
    }
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
