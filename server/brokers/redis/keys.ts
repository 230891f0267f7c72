/**
 * The Redis key layout of one flowcast deployment, every key under one prefix so that several
 * deployments (or test runs) share a Redis without seeing each other:
 *
 *   <prefix>x:<executionId>:log   Stream: one entry per runtime-stream event, id `<seq>-0`, field `e`
 *                                 (the envelope JSON); markers at `<seq>-<k>` (k >= 1) carry a status
 *                                 change (`s`) or the stream close (`c`), ordered after event `seq`.
 *   <prefix>x:<executionId>:meta  Hash: flow, node, status, result, error, lastSeq, firstSeq, close,
 *                                 interrupts, retention, createdAt, endedAt (TTL once finished);
 *                                 `lost` once another node ended it (the fence, see lease.ts).
 *                                 `lastSeq` is as of the hash's last write; the log's top is newer.
 *   <prefix>ticks                 Pub/sub channel: the doorbell, rung once by every write batch that
 *                                 appended to logs, naming each with its new top id and, when known
 *                                 exactly, carrying its entries (ring.ts); the nodes following a log
 *                                 apply those, or read it, only then.
 *   <prefix>node:<nodeId>         Pub/sub channel: commands to the node and replies from others.
 *   <prefix>nodes                 Sorted set: node id -> lease deadline (ms, Redis clock); see lease.ts.
 *   <prefix>node:<nodeId>:runs    Set: the unfinished executions that node runs.
 *   <prefix>node:<nodeId>:fence   Counter: bumped by whoever ends or takes over that node's executions
 *                                 (the lease sweep); the node's writes are WATCHed on it (see fence.ts).
 *   <prefix>claimable             Set: running executions no node holds (their node died or drained);
 *                                 any node that has the flow takes one from its checkpoint (claim.ts).
 */

/** The key prefix when none is configured. */
export const DEFAULT_KEY_PREFIX = 'flowcast:'

/** Key names under one prefix. */
export class RedisKeys {
  readonly prefix: string

  constructor(prefix: string) {
    this.prefix = prefix
  }

  /** The stream holding an execution's runtime-stream log. */
  log(executionId: string): string {
    return `${this.prefix}x:${executionId}:log`
  }

  /** The hash holding an execution's status, result and metadata. */
  meta(executionId: string): string {
    return `${this.prefix}x:${executionId}:meta`
  }

  /** The doorbell: the pub/sub channel rung by each write batch that appended, naming the logs it grew. */
  ticks(): string {
    return `${this.prefix}ticks`
  }

  /** The pub/sub channel a node listens on for commands and replies. */
  node(nodeId: string): string {
    return `${this.prefix}node:${nodeId}`
  }

  /** Sorted set of node id -> lease deadline (ms, Redis clock) of every live node. */
  nodes(): string {
    return `${this.prefix}nodes`
  }

  /** Set of the executions a node runs (unfinished), swept when its lease passes. */
  runs(nodeId: string): string {
    return `${this.prefix}node:${nodeId}:runs`
  }

  /** Set of running executions that no node holds, waiting for a node that has their flow to take them. */
  claimable(): string {
    return `${this.prefix}claimable`
  }

  /** Counter bumped by anyone ending or taking over a node's executions: that node's write fence. */
  fence(nodeId: string): string {
    return `${this.prefix}node:${nodeId}:fence`
  }
}

/** A stream entry id split into its two parts: the event seq and the marker index (0 = the event). */
export interface EntryId {
  seq: number
  sub: number
}

/** One stream entry: its id and its fields. */
export interface StreamRecord {
  readonly id: EntryId
  readonly fields: Record<string, string>
}

/** Parses `<seq>-<sub>`. */
export function parseId(id: string): EntryId {
  const dash = id.indexOf('-')
  return { seq: Number(id.slice(0, dash)), sub: Number(id.slice(dash + 1)) }
}

/** True when id `a` comes after id `b`. */
export function idAfter(a: EntryId, b: EntryId): boolean {
  return a.seq > b.seq || (a.seq === b.seq && a.sub > b.sub)
}

/** `<seq>-<sub>` */
export function formatId(id: EntryId): string {
  return `${id.seq}-${id.sub}`
}
