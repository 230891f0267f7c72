/**
 * Wire protocol v1, server -> client: the one definition of every frame the server sends (over
 * WebSocket, and as SSE `data:`), with its TypeScript type. Written with the small checker of
 * check.ts rather than zod so that a browser bundle validating them stays a few hundred bytes; the
 * checks are built on first use, so importing this module (or only an error helper beside it)
 * builds nothing.
 */
import {
  any,
  arr,
  bool,
  type Check,
  either,
  type Infer,
  nat,
  num,
  obj,
  oneOf,
  opt,
  pos,
  str,
} from './check.ts'
import { PROTOCOL_VERSION } from './codes.ts'
import { EXECUTION_STATUSES, STREAM_END_REASONS } from './status.ts'

function build() {
  const executionId = str
  const requestId = either(str, num)
  const status = oneOf(...EXECUTION_STATUSES)
  const item = {
    seq: pos,
    ts: num,
    source: opt(str),
    /** 2, 3, ...: put by a step running again after its execution moved to another node. */
    attempt: opt(nat),
    data: any,
  }
  return {
    hello: obj({
      type: oneOf('hello'),
      protocol: oneOf(PROTOCOL_VERSION),
      connectionId: str,
      heartbeatMs: num,
      limits: obj({ maxPayload: num, maxSubscriptions: num, commandsPerSecond: num }),
    }),
    subscribed: obj({
      type: oneOf('subscribed'),
      id: requestId,
      executionId,
      status,
      streamOpen: bool,
      lastSeq: nat,
      subscribers: nat,
    }),
    event: obj({ type: oneOf('event'), executionId, ...item }),
    events: obj({ type: oneOf('events'), executionId, items: arr(obj(item), 1) }),
    gap: obj({ type: oneOf('gap'), executionId, from: nat, to: nat }),
    stream_end: obj({
      type: oneOf('stream_end'),
      executionId,
      lastSeq: nat,
      reason: oneOf(...STREAM_END_REASONS),
      by: opt(str),
    }),
    status: obj({ type: oneOf('status'), executionId, status }),
    presence: obj({ type: oneOf('presence'), executionId, subscribers: nat }),
    // An ack carries whatever its command answers (alreadyStopped, cancelled, authenticated...).
    ack: obj({ type: oneOf('ack'), id: requestId }),
    error: obj({
      type: oneOf('error'),
      id: opt(requestId),
      code: str,
      message: str,
      executionId: opt(executionId),
    }),
    pong: obj({ type: oneOf('pong'), id: requestId }),
  }
}

type Checks = ReturnType<typeof build>
type FrameOf<K extends keyof Checks> = Infer<Checks[K]>

let checks: Checks | undefined

/** Checks one parsed server frame: the frame, typed, or why it is not one. */
export function checkServerFrame(
  value: unknown,
): { ok: true; frame: ServerFrame } | { ok: false; error: string } {
  checks ??= build()
  const type = (value as { type?: unknown } | null)?.type
  const check: Check<unknown> | undefined =
    typeof type === 'string' && Object.hasOwn(checks, type) ? checks[type as keyof Checks] : undefined
  const error = check ? check(value) : 'at type: not a server frame type'
  return error === null ? { ok: true, frame: value as ServerFrame } : { ok: false, error }
}

/** One runtime-stream item as it travels: the envelope the engine made, unchanged. */
export type WireEvent<T = unknown> = { seq: number; ts: number; source?: string; attempt?: number; data: T }

export type HelloFrame = FrameOf<'hello'>
export type Limits = HelloFrame['limits']
export type SubscribedFrame = FrameOf<'subscribed'>
export type EventFrame = FrameOf<'event'>
export type EventsFrame = FrameOf<'events'>
export type GapFrame = FrameOf<'gap'>
export type StreamEndFrame = FrameOf<'stream_end'>
export type StatusFrame = FrameOf<'status'>
export type PresenceFrame = FrameOf<'presence'>
export type AckFrame = FrameOf<'ack'> & Record<string, unknown>
export type ErrorFrame = FrameOf<'error'>
export type PongFrame = FrameOf<'pong'>
export type ServerFrame =
  | HelloFrame
  | SubscribedFrame
  | EventFrame
  | EventsFrame
  | GapFrame
  | StreamEndFrame
  | StatusFrame
  | PresenceFrame
  | AckFrame
  | ErrorFrame
  | PongFrame
