/**
 * Who holds an execution, moved atomically in Redis: each move is one script on the execution's
 * hash (`node`), so exactly one node wins however many try at once.
 *
 * - park: the lease sweep takes a dead node's unfinished execution away from it (`node` = '').
 *   A running one goes into `<prefix>claimable`; a waiting one needs no node at all, its
 *   checkpoint (hash field `checkpoint`) holds everything a `continue` needs.
 * - release: a draining node gives one of its executions up the same way.
 * - take: a node makes itself the holder of a nodeless execution (a claim of a running one, or
 *   the node a command on a waiting one arrived at), or of one Redis says it holds already but it
 *   does not run (a take whose reply was lost); it gets the checkpoint and the log's top back.
 * - fail: the holder ends one it cannot resume (`invalid_snapshot`), markers after the top.
 *
 * park and release bump the former holder's fence counter in the same script, so a writer of
 * that node that was only slow has its next EXEC dropped whole (see fence.ts).
 */
import type { Redis } from 'ioredis'
import type { EntryId, RedisKeys } from './keys.ts'
import { parseId } from './keys.ts'

/** Redis's clock in ms, from inside a script. */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

const FINAL = `
local function final(s) return s == 'completed' or s == 'failed' or s == 'cancelled' end
`

/**
 * KEYS: meta, nodes, the dead node's fence, claimable. ARGV: the dead node's id, the execution id.
 * Only while it is unfinished, still that node's, whose lease has passed.
 */
const PARK = `${NOW}${FINAL}
local h = redis.call('HMGET', KEYS[1], 'status', 'node')
if not h[1] or final(h[1]) or h[2] ~= ARGV[1] then return 0 end
local lease = redis.call('ZSCORE', KEYS[2], ARGV[1])
if lease and tonumber(lease) >= now then return 0 end
redis.call('HSET', KEYS[1], 'node', '')
if h[1] ~= 'waiting' then redis.call('SADD', KEYS[4], ARGV[2]) end
redis.call('INCR', KEYS[3])
return 1
`

/** KEYS: meta, own fence, own runs, claimable. ARGV: own id, the execution id. */
const RELEASE = `${FINAL}
local h = redis.call('HMGET', KEYS[1], 'status', 'node')
if not h[1] or final(h[1]) or h[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'node', '')
redis.call('SREM', KEYS[3], ARGV[2])
if h[1] ~= 'waiting' then redis.call('SADD', KEYS[4], ARGV[2]) end
redis.call('INCR', KEYS[2])
return 1
`

/**
 * KEYS: meta, log, claimable, own runs. ARGV: own id, the execution id, 'running' to take only a
 * running one (a claim) or 'any' (a command arrived). Returns {0} or {1, checkpoint, top id,
 * firstSeq, maxEvents, maxBytes, flow, status}.
 */
const TAKE = `${FINAL}
local h = redis.call('HMGET', KEYS[1], 'status', 'node', 'checkpoint', 'firstSeq', 'maxEvents', 'maxBytes', 'flow')
if not h[1] or final(h[1]) then
  redis.call('SREM', KEYS[3], ARGV[2])
  return {0}
end
if h[2] ~= '' and h[2] ~= ARGV[1] then return {0} end
if ARGV[3] == 'running' and h[1] == 'waiting' then return {0} end
redis.call('HSET', KEYS[1], 'node', ARGV[1])
redis.call('SREM', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if top[1] then id = top[1][1] end
return {1, h[3] or '', id, h[4] or '1', h[5] or '', h[6] or '', h[7] or '', h[1]}
`

/**
 * KEYS: meta, log, the doorbell. ARGV: own id, finished TTL ms, the error JSON. Ends an execution this
 * node holds (but does not run) as failed: status and close markers after the log's top.
 */
const FAIL = `${NOW}${FINAL}
local h = redis.call('HMGET', KEYS[1], 'status', 'node', 'lastSeq', 'close')
if not h[1] or final(h[1]) or h[2] ~= ARGV[1] then return 0 end
local seq = tonumber(h[3] or '0')
local sub = 0
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local id = top[1][1]
  local dash = string.find(id, '-', 1, true)
  local topSeq = tonumber(string.sub(id, 1, dash - 1))
  if topSeq >= seq then
    seq = topSeq
    sub = tonumber(string.sub(id, dash + 1))
  end
end
local last = string.format('%.0f', seq)
sub = sub + 1
redis.call('XADD', KEYS[2], last .. '-' .. sub, 's', 'failed')
local fields = {'status', 'failed', 'error', ARGV[3], 'endedAt', string.format('%.0f', now), 'interrupts', '[]'}
if not h[4] then
  local close = '{"reason":"failed","lastSeq":' .. last .. '}'
  sub = sub + 1
  redis.call('XADD', KEYS[2], last .. '-' .. sub, 'c', close)
  table.insert(fields, 'close')
  table.insert(fields, close)
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HDEL', KEYS[1], 'checkpoint')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
-- The doorbell, as every append rings it: followers read the markers now (reader.ts).
redis.call('PUBLISH', KEYS[3], cjson.encode({KEYS[2], last .. '-' .. sub}))
return 1
`

/** What a take hands the new holder. */
export interface Taken {
  /** The checkpoint's JSON; '' when the execution has none. */
  checkpoint: string
  top: EntryId
  firstSeq: number
  retention: { maxEvents: number; maxBytes: number } | undefined
  flow: string
  status: string
}

/** The scripts that move an execution between holders, for one node. */
export class Claims {
  readonly #redis: Redis
  readonly #keys: RedisKeys
  readonly #nodeId: string

  constructor(redis: Redis, keys: RedisKeys, nodeId: string) {
    this.#redis = redis
    this.#keys = keys
    this.#nodeId = nodeId
  }

  /** Takes each of a dead node's executions away from it; the ids of those parked. */
  async park(deadNode: string, executionIds: string[]): Promise<string[]> {
    if (executionIds.length === 0) return []
    const k = this.#keys
    const pipe = this.#redis.pipeline()
    for (const id of executionIds)
      pipe.eval(PARK, 4, k.meta(id), k.nodes(), k.fence(deadNode), k.claimable(), deadNode, id)
    const replies = (await pipe.exec()) ?? []
    return executionIds.filter((_, i) => {
      const [err, v] = replies[i] ?? [new Error('no reply'), 0]
      if (err) throw err
      return v === 1
    })
  }

  /** Gives up one of this node's executions (a drain); false when it is not this node's. */
  async release(executionId: string): Promise<boolean> {
    const k = this.#keys
    const n = this.#nodeId
    const r = await this.#redis.eval(
      RELEASE,
      4,
      k.meta(executionId),
      k.fence(n),
      k.runs(n),
      k.claimable(),
      n,
      executionId,
    )
    return r === 1
  }

  /** Makes this node the holder; undefined when another node holds it, or it has finished. */
  async take(executionId: string, mode: 'running' | 'any'): Promise<Taken | undefined> {
    const k = this.#keys
    const n = this.#nodeId
    const r = (await this.#redis.eval(
      TAKE,
      4,
      k.meta(executionId),
      k.log(executionId),
      k.claimable(),
      k.runs(n),
      n,
      executionId,
      mode,
    )) as [number, ...string[]]
    if (r[0] !== 1) return undefined
    const [, checkpoint, top, firstSeq, maxEvents, maxBytes, flow, status] = r
    return {
      checkpoint: checkpoint ?? '',
      top: parseId(top ?? '0-0'),
      firstSeq: Number(firstSeq ?? 1),
      retention:
        maxEvents && maxBytes ? { maxEvents: Number(maxEvents), maxBytes: Number(maxBytes) } : undefined,
      flow: flow ?? '',
      status: status ?? 'running',
    }
  }

  /** Ends an execution this node holds but cannot run as failed with `error`. */
  async fail(
    executionId: string,
    error: { code: string; message: string },
    finishedTtlMs: number,
  ): Promise<void> {
    const k = this.#keys
    const n = this.#nodeId
    await this.#redis
      .multi()
      .eval(
        FAIL,
        3,
        k.meta(executionId),
        k.log(executionId),
        k.ticks(),
        n,
        finishedTtlMs,
        JSON.stringify(error),
      )
      .srem(k.runs(n), executionId)
      .exec()
  }

  /** Up to `count` executions waiting for a node to claim them. */
  async claimable(count: number): Promise<string[]> {
    return this.#redis.srandmember(this.#keys.claimable(), count)
  }
}
