/**
 * Node leases: how the nodes on one Redis learn that one of them died without a word (kill -9,
 * a lost machine) and take its unfinished executions away from it instead of leaving them
 * `running` forever.
 *
 * One key per deployment, `<prefix>nodes`, a sorted set of node id -> lease deadline (ms, on
 * Redis's clock, so the nodes' clocks never matter), and per node `<prefix>node:<id>:runs`, the
 * set of executions it runs (the writer keeps it). Every node renews its own lease with one
 * script call per period (a third of the lease), whatever the number of executions, and the same
 * call returns the nodes whose lease has passed. For each, the node parks that node's executions
 * (claim.ts: `node` emptied, a running one listed as claimable), each in one script that checks
 * the lease again and the status, so it happens once however many nodes sweep at the same time.
 * Then the dead node's entry and set are dropped, and every node claims what is claimable and
 * whose flow it has, from its checkpoint (see redis.ts).
 *
 * The dead node's fence counter is bumped in the same script. A node that was only slow (a step
 * that blocked it longer than its lease, a partition) comes back still running the execution; its
 * writer's next EXEC, WATCHed on that counter, is dropped whole by Redis (see fence.ts), it reads
 * `node` of each of its executions and stops those it no longer holds; its next renewal also
 * reports the lapse.
 *
 * No scan of every execution and no timer per execution: the work is O(1) per node per period,
 * plus O(executions of a dead node) once.
 */
import type { Redis } from 'ioredis'
import type { Claims } from './claim.ts'
import type { RedisKeys } from './keys.ts'

/** Redis's clock in ms, from inside a script. */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

/**
 * KEYS: nodes. ARGV: node id, lease ms, max dead nodes to report.
 * Returns {lapsed (1 when this node's own lease had passed or was missing), dead node ids...}.
 */
const RENEW = `${NOW}
local prev = redis.call('ZSCORE', KEYS[1], ARGV[1])
local lapsed = 0
if not prev or tonumber(prev) < now then lapsed = 1 end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now), 'LIMIT', 0, tonumber(ARGV[3]))
table.insert(dead, 1, lapsed)
return dead
`

/**
 * KEYS: nodes, the dead node's runs, its fence. ARGV: its id, finished TTL ms. Forgets the node
 * only while its lease is still passed: a node that was only slow and renewed meanwhile keeps its
 * entry and its set. The fence is bumped (that node must list its executions again) and outlives
 * the node's executions (at least a day), so that a node back after the sweep finds it moved.
 */
const FORGET = `${NOW}
local lease = redis.call('ZSCORE', KEYS[1], ARGV[1])
if lease and tonumber(lease) >= now then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], math.max(tonumber(ARGV[2]), 86400000))
return 1
`

/** The error message of an execution ended because its node was lost (the same on every node). */
export function nodeLostMessage(executionId: string): string {
  return `the node running execution ${executionId} stopped renewing its lease`
}

/** Most dead nodes one renewal reports (the rest come with the next ones). */
const DEAD_PER_RENEWAL = 16

/**
 * The share of the lease after the last confirmed renewal's sending during which this node is
 * sure it still holds its executions. Renewals go out every third, so a node keeping up is
 * always well inside it; past it the node may have been swept (see `sure`).
 */
const SURE_SHARE = 2 / 3

export interface NodeLeaseOptions {
  /** The command connection. */
  redis: Redis
  keys: RedisKeys
  nodeId: string
  /** How long a node's lease lasts without renewal; renewed every third of it. */
  leaseMs: number
  finishedTtlMs: number
  onError: (err: unknown, context: string) => void
  /** Moves a dead node's executions away from it (claim.ts). */
  claims: Claims
  /** Told after each renewal (and each sweep): the broker claims what waits for a node then. */
  onRenewed?: () => void
  /** Called when this node's own lease had passed before a renewal: other nodes may have fenced it. */
  onLapsed?: () => void
}

/** This node's lease, and the sweep of the executions of nodes whose lease passed. */
export class NodeLease {
  readonly #o: NodeLeaseOptions
  #timer: ReturnType<typeof setInterval> | undefined
  /** When the command connection last became ready (0 while it is not). */
  #readySince = 0
  #renewing = false
  /** performance.now() when the last renewal Redis answered was sent (0: none yet). */
  #renewedAt = 0
  /** False until the first renewal: a node's first lease is never a lapse. */
  #started = false
  #closed = false

  constructor(options: NodeLeaseOptions) {
    this.#o = options
    if (options.redis.status === 'ready') this.#readySince = Date.now()
    options.redis.on('close', () => {
      this.#readySince = 0
    })
    // Registered before the writer's resync: the lease is renewed before any hash is rewritten,
    // so a sweeper never sees a rewritten execution of a node whose lease Redis lost.
    options.redis.on('ready', () => {
      this.#readySince = Date.now()
      if (this.#timer) void this.renew()
    })
  }

  /** Takes the lease (before this node writes any execution) and renews it periodically. */
  async start(): Promise<void> {
    this.#readySince ||= Date.now()
    await this.renew()
    this.#timer ??= setInterval(() => void this.renew(), Math.max(50, Math.floor(this.#o.leaseMs / 3)))
    this.#timer.unref()
  }

  /**
   * True while no other node can have taken this node's executions: less than SURE_SHARE of the
   * lease has passed since the last answered renewal was sent (Redis set the deadline after
   * that, on its own clock, so only this node's elapsed time matters). False after a stall or a
   * partition longer than that, until the next renewal is answered.
   */
  get sure(): boolean {
    return this.#renewedAt > 0 && performance.now() - this.#renewedAt < this.#o.leaseMs * SURE_SHARE
  }

  /** Renews the lease and ends the executions of nodes whose lease passed. */
  async renew(): Promise<void> {
    const { redis, keys, nodeId, leaseMs } = this.#o
    if (this.#closed || this.#renewing || redis.status !== 'ready') return
    this.#renewing = true
    const sentAt = performance.now()
    try {
      const reply = (await redis.eval(RENEW, 1, keys.nodes(), nodeId, leaseMs, DEAD_PER_RENEWAL)) as [
        number,
        ...string[],
      ]
      const [lapsed, ...dead] = reply
      if (lapsed === 1 && this.#started) {
        this.#o.onError(
          new Error(
            `node ${nodeId}: its lease had passed before renewal; other nodes may have ended its executions`,
          ),
          'redis lease',
        )
        this.#o.onLapsed?.()
      }
      this.#started = true
      this.#renewedAt = sentAt
      // Right after (re)connecting, live nodes may not have renewed yet: wait out one lease first.
      if (dead.length > 0 && this.#readySince > 0 && Date.now() - this.#readySince >= leaseMs) {
        for (const node of dead) if (node !== nodeId) await this.#sweep(node)
      }
      this.#o.onRenewed?.()
    } catch (err) {
      if (redis.status === 'ready') this.#o.onError(err, 'redis lease')
    } finally {
      this.#renewing = false
    }
  }

  /** Stops renewing; with `release`, gives the lease back (nothing of this node is left running). */
  async close(release: boolean): Promise<void> {
    this.#closed = true
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    const { redis, keys, nodeId } = this.#o
    if (!release || redis.status !== 'ready') return
    await redis
      .multi()
      .zrem(keys.nodes(), nodeId)
      .del(keys.runs(nodeId), keys.fence(nodeId))
      .exec()
      .catch(() => undefined)
  }

  /** Takes every unfinished execution away from a dead node (parked for a claim), then forgets the node. */
  async #sweep(node: string): Promise<void> {
    const { redis, keys, finishedTtlMs } = this.#o
    const runs = keys.runs(node)
    await this.#o.claims.park(node, await redis.smembers(runs))
    await redis.eval(FORGET, 3, keys.nodes(), runs, keys.fence(node), node, finishedTtlMs)
  }
}
