/**
 * Wire protocol v1, client -> server, and the HTTP bodies: the one definition of every frame and
 * body the server validates at its edge, in zod (its messages name the failing path). The frames
 * the server sends are in server-frames.ts, checked without zod, so a client bundle never carries
 * this module.
 */
// A namespace import lets bundlers drop what is unused (zod's locales alone are ~260 KiB).
import * as z from 'zod'
import type { WireEvent } from './server-frames.ts'
import type { ExecutionStatus } from './status.ts'

const executionId = z.string().min(1).max(128)
const requestId = z.union([z.string().max(64), z.number().int().safe()])
const seq = z.number().int().nonnegative().safe()
const token = z.string().min(1).max(4096)

// ---- client -> server -------------------------------------------------------------------------

export const SubscribeFrame = z.strictObject({
  type: z.literal('subscribe'),
  id: requestId,
  executionId,
  since: seq.optional(),
  /** The subscription's own token (instead of the socket's), checked for this execution. */
  token: token.optional(),
})
export const UnsubscribeFrame = z.strictObject({ type: z.literal('unsubscribe'), id: requestId, executionId })
export const StopStreamFrame = z.strictObject({
  type: z.literal('stop_stream'),
  id: requestId,
  executionId,
  token: token.optional(),
})
export const ContinueFrame = z.strictObject({
  type: z.literal('continue'),
  id: requestId,
  executionId,
  interruptId: z.string().min(1).max(128),
  value: z.unknown().optional(),
  token: token.optional(),
})
/** Cancels the execution (admin role): its signal aborts (a model request with it), status `cancelled`. */
export const CancelFrame = z.strictObject({
  type: z.literal('cancel'),
  id: requestId,
  executionId,
  token: token.optional(),
})
export const PingFrame = z.strictObject({ type: z.literal('ping'), id: requestId })
export const AuthFrame = z.strictObject({
  type: z.literal('auth'),
  id: requestId.optional(),
  token,
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
  /**
   * Redis broker: true while no node holds the unfinished execution (it waits for an interrupt
   * answer, which any node takes, or for a node that has its flow to claim it).
   */
  nodeless?: boolean
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
