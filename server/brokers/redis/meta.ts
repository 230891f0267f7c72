/**
 * An execution's metadata hash: what the running node writes and what every other node reads.
 * `lastSeq` in the hash is as of its last write, not every event's: the writer sends it along
 * with other changes only (an HSET per execution per tick for it alone was a Redis command per
 * event, issue 18); readers take the log's top in the same MULTI (readInfo).
 */
import type { Retention } from '@flowcast/flows'
import { type ExecutionStatus, isTerminal } from '@flowcast/protocol'
import type { Redis } from 'ioredis'
import type { ExecutionInfo, ExecutionOutcome, StreamClose } from '../broker.ts'
import { parseId, type RedisKeys } from './keys.ts'

/** The hash fields of a snapshot; `result` only once completed. */
export function metaFields(
  info: ExecutionInfo,
  node: string,
  retention: Retention,
  outcome?: ExecutionOutcome,
): Record<string, string> {
  const f: Record<string, string> = {
    flow: info.flow,
    node,
    status: info.status,
    createdAt: String(info.createdAt),
    lastSeq: String(info.lastSeq),
    firstSeq: String(info.firstSeq),
    interrupts: JSON.stringify(info.pendingInterrupts),
    maxEvents: String(retention.maxEvents),
    maxBytes: String(retention.maxBytes),
  }
  if (info.endedAt !== undefined) f.endedAt = String(info.endedAt)
  if (info.error) f.error = JSON.stringify(info.error)
  if (info.streamClose) f.close = JSON.stringify(info.streamClose)
  // `undefined` is a valid result and has no JSON: mark presence separately.
  if (outcome?.status === 'completed')
    f.result = outcome.result === undefined ? '' : JSON.stringify(outcome.result)
  return f
}

/** The snapshot a hash describes; undefined when the hash is empty (unknown or expired). */
export function infoOf(executionId: string, h: Record<string, string>): ExecutionInfo | undefined {
  if (!h.status || !h.flow) return undefined
  const close = h.close ? (JSON.parse(h.close) as StreamClose) : undefined
  const info: ExecutionInfo = {
    executionId,
    flow: h.flow,
    status: h.status as ExecutionStatus,
    streamOpen: close === undefined,
    lastSeq: Number(h.lastSeq ?? 0),
    firstSeq: Number(h.firstSeq ?? 1),
    createdAt: Number(h.createdAt ?? 0),
    pendingInterrupts: h.interrupts ? JSON.parse(h.interrupts) : [],
  }
  if (close) info.streamClose = close
  // An empty `node`: nobody holds it (claim.ts).
  if (h.node === '' && !isTerminal(info.status)) info.nodeless = true
  if (h.endedAt) info.endedAt = Number(h.endedAt)
  if (h.error) info.error = JSON.parse(h.error)
  return info
}

/** An execution's snapshot from Redis: its hash, with `lastSeq` the log's top when that is newer. */
export async function readInfo(
  redis: Redis,
  keys: RedisKeys,
  executionId: string,
): Promise<ExecutionInfo | undefined> {
  const replies = await redis
    .multi()
    .hgetall(keys.meta(executionId))
    .xrevrange(keys.log(executionId), '+', '-', 'COUNT', 1)
    .exec()
  if (!replies) throw new Error('the MULTI was aborted')
  const [[hashErr, h], [topErr, rows]] = replies as [
    [Error | null, Record<string, string>],
    [Error | null, [string, string[]][]],
  ]
  if (hashErr) throw hashErr
  if (topErr) throw topErr
  const info = infoOf(executionId, h)
  const top = rows[0] ? parseId(rows[0][0]).seq : 0
  if (info && top > info.lastSeq) info.lastSeq = top
  return info
}

/** The outcome a hash describes; undefined when the hash is empty. */
export function outcomeOf(h: Record<string, string>): ExecutionOutcome | undefined {
  if (!h.status || !h.flow) return undefined
  const status = h.status as ExecutionStatus
  switch (status) {
    case 'completed':
      return { status, result: h.result ? JSON.parse(h.result) : undefined }
    case 'failed':
      return {
        status,
        error: h.error ? JSON.parse(h.error) : { code: 'execution_failed', message: 'failed' },
      }
    case 'cancelled':
      return h.error ? { status, error: JSON.parse(h.error) } : { status }
    default:
      return { status }
  }
}
