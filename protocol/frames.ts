/**
 * Wire protocol v1: the one definition of every frame that crosses the WebSocket, used by the
 * server to validate at its edge and by the client SDK to validate what it receives. JSON text
 * frames only. This module imports nothing but zod so that it runs in browsers as it is.
 */
// A namespace import lets bundlers drop what is unused (zod's locales alone are ~260 KiB).
import * as z from 'zod'
import { ExecutionStatus, StreamEndReason } from './status.ts'

export const PROTOCOL_VERSION = 1 as const

/** Close codes the server uses, beside the standard 1001/1009/1012. */
export const CloseCode = {
  goingAway: 1001,
  tooBig: 1009,
  restarting: 1012,
  unauthorized: 4001,
  forbidden: 4003,
  tooSlow: 4008,
  rateLimited: 4029,
} as const

const executionId = z.string().min(1).max(128)
const requestId = z.union([z.string().max(64), z.number().int().safe()])
const seq = z.number().int().nonnegative().safe()

// ---- client -> server -------------------------------------------------------------------------

export const SubscribeFrame = z.strictObject({
  type: z.literal('subscribe'),
  id: requestId,
  executionId,
  since: seq.optional(),
})
export const UnsubscribeFrame = z.strictObject({ type: z.literal('unsubscribe'), id: requestId, executionId })
export const StopStreamFrame = z.strictObject({ type: z.literal('stop_stream'), id: requestId, executionId })
export const ContinueFrame = z.strictObject({
  type: z.literal('continue'),
  id: requestId,
  executionId,
  interruptId: z.string().min(1).max(128),
  value: z.unknown().optional(),
})
/** Cancels the execution (admin role): its signal aborts (a model request with it), status `cancelled`. */
export const CancelFrame = z.strictObject({ type: z.literal('cancel'), id: requestId, executionId })
export const PingFrame = z.strictObject({ type: z.literal('ping'), id: requestId })
export const AuthFrame = z.strictObject({
  type: z.literal('auth'),
  id: requestId.optional(),
  token: z.string().min(1).max(4096),
})

export const ClientFrame = z.discriminatedUnion('type', [
  SubscribeFrame,
  UnsubscribeFrame,
  StopStreamFrame,
  ContinueFrame,
  CancelFrame,
  PingFrame,
  AuthFrame,
])
export type ClientFrame = z.infer<typeof ClientFrame>
export type ClientFrameType = ClientFrame['type']
export const CLIENT_FRAME_TYPES: readonly ClientFrameType[] = [
  'subscribe',
  'unsubscribe',
  'stop_stream',
  'continue',
  'cancel',
  'ping',
  'auth',
]

// ---- server -> client -------------------------------------------------------------------------

export const Limits = z.object({
  maxPayload: z.number(),
  maxSubscriptions: z.number(),
  commandsPerSecond: z.number(),
})
export type Limits = z.infer<typeof Limits>

/** One runtime-stream item as it travels: the envelope the engine made, unchanged. */
export const WireEvent = z.object({
  seq: z.number().int().positive(),
  ts: z.number(),
  source: z.string().optional(),
  /** 2, 3, ...: put by a step running again after its execution moved to another node. */
  attempt: z.number().int().min(2).optional(),
  data: z.unknown(),
})
export type WireEvent<T = unknown> = { seq: number; ts: number; source?: string; attempt?: number; data: T }

export const HelloFrame = z.object({
  type: z.literal('hello'),
  protocol: z.literal(PROTOCOL_VERSION),
  connectionId: z.string(),
  heartbeatMs: z.number(),
  limits: Limits,
})
export const SubscribedFrame = z.object({
  type: z.literal('subscribed'),
  id: requestId,
  executionId,
  status: ExecutionStatus,
  streamOpen: z.boolean(),
  lastSeq: seq,
  subscribers: z.number().int().nonnegative(),
})
export const EventFrame = WireEvent.extend({ type: z.literal('event'), executionId })
export const EventsFrame = z.object({
  type: z.literal('events'),
  executionId,
  items: z.array(WireEvent).min(1),
})
export const GapFrame = z.object({ type: z.literal('gap'), executionId, from: seq, to: seq })
export const StreamEndFrame = z.object({
  type: z.literal('stream_end'),
  executionId,
  lastSeq: seq,
  reason: StreamEndReason,
  by: z.string().optional(),
})
export const StatusFrame = z.object({ type: z.literal('status'), executionId, status: ExecutionStatus })
export const PresenceFrame = z.object({
  type: z.literal('presence'),
  executionId,
  subscribers: z.number().int().nonnegative(),
})
export const AckFrame = z.looseObject({ type: z.literal('ack'), id: requestId })
export const ErrorFrame = z.object({
  type: z.literal('error'),
  id: requestId.optional(),
  code: z.string(),
  message: z.string(),
  executionId: executionId.optional(),
})
export const PongFrame = z.object({ type: z.literal('pong'), id: requestId })

export const ServerFrame = z.discriminatedUnion('type', [
  HelloFrame,
  SubscribedFrame,
  EventFrame,
  EventsFrame,
  GapFrame,
  StreamEndFrame,
  StatusFrame,
  PresenceFrame,
  AckFrame,
  ErrorFrame,
  PongFrame,
])
export type ServerFrame = z.infer<typeof ServerFrame>
export type HelloFrame = z.infer<typeof HelloFrame>
export type SubscribedFrame = z.infer<typeof SubscribedFrame>
export type EventFrame = z.infer<typeof EventFrame>
export type EventsFrame = z.infer<typeof EventsFrame>
export type GapFrame = z.infer<typeof GapFrame>
export type StreamEndFrame = z.infer<typeof StreamEndFrame>
export type StatusFrame = z.infer<typeof StatusFrame>
export type PresenceFrame = z.infer<typeof PresenceFrame>
export type AckFrame = z.infer<typeof AckFrame>
export type ErrorFrame = z.infer<typeof ErrorFrame>

// ---- HTTP bodies ------------------------------------------------------------------------------

export const StartBody = z.object({ input: z.unknown().optional() })
export const ContinueBody = z.object({ value: z.unknown().optional() })
export const Role = z.enum(['viewer', 'admin'])
export type Role = z.infer<typeof Role>
export const MintTokenBody = z.object({
  executionId: z.union([executionId, z.literal('*')]),
  role: Role,
  ttlSeconds: z
    .number()
    .int()
    .positive()
    .max(30 * 24 * 3600)
    .optional(),
})

export interface StartResponse {
  executionId: string
  status: ExecutionStatus
  tokens?: { viewer: string; admin: string }
  links: { self: string; result: string; stream: string; ws: string; watch: string }
}

/** One entry of GET /api/flows. */
export interface FlowInfo {
  name: string
  /** One line on what the flow does, when its definition has one. */
  description?: string
  /** An input worth trying, when its definition has one. */
  exampleInput?: unknown
  contract: { input?: unknown; stream?: unknown; result?: unknown }
}

export interface ExecutionSnapshot {
  executionId: string
  flow: string
  status: ExecutionStatus
  streamOpen: boolean
  lastSeq: number
  firstSeq: number
  createdAt: number
  endedAt?: number
  error?: { code: string; message: string }
  pendingInterrupts: { id: string; type: string; payload?: unknown }[]
  subscribers: number
}

export type ResultResponse<R = unknown> =
  | { status: 'completed'; result: R }
  | { status: 'failed'; error: { code: string; message: string } }
  | { status: 'cancelled'; error?: { code: string; message: string } }
  | { status: 'created' | 'running' | 'waiting' }

export interface HistoryResponse {
  executionId: string
  items: WireEvent[]
  gap?: { from: number; to: number }
  lastSeq: number
  streamOpen: boolean
  next: number | null
}

/** The JSON body of every HTTP error. */
export interface ErrorBody {
  error: { code: string; message: string }
}
