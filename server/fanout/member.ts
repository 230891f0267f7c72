/**
 * A room's members: the Peer a transport hands to a room (a socket, an SSE response) and the
 * room's record of where that peer is in the stream. A peer takes frames; how it frames them
 * into bytes is the transport's business.
 */
import type { ExecutionStatus } from '@flowcast/protocol'
import type { OutFrame } from './frame.ts'

/** What a room needs of a connection: queue size, send, close. */
export interface Peer {
  /** Bytes handed to the transport but not yet written out. */
  readonly bufferedAmount: number
  /** False once the connection is closing or closed. */
  readonly open: boolean
  /** Hands `frame` to the transport, which encodes it through `frame.encoded` (once per transport). */
  send(frame: OutFrame): void
  /**
   * Optional: `offer` (below) in one call, for a transport that can check and send more cheaply
   * than through `open`, `bufferedAmount` and `send` (a WebSocket reads its state once).
   */
  offer?(frame: OutFrame, highWaterMark: number): boolean
  /** Closes the connection (slow consumer: 4008). */
  close(code: number, reason: string): void
  /** Called after the room sent `stream_end` to this peer (SSE ends its response). */
  onStreamEnd?(): void
  /** The room ended without the peer asking (its execution was evicted): forget the subscription. */
  onReleased?(executionId: string): void
}

/** A subscription: live (in the room's live set), catching up (in the catching set) or ended. */
export interface Member {
  readonly peer: Peer
  ended: boolean
  /** Last seq sent; meaningful while catching up (live members are at the room's head). */
  cursor: number
  /** When the member last found its queue above the high-water mark without progress (0 = not stuck). */
  stuckSince: number
  /** The last status this member was told (in `subscribed` or a status frame). */
  status: ExecutionStatus
}

/** What a subscriber learns in the `subscribed` reply, before any replay frame. */
export interface SubscribeInfo {
  status: ExecutionStatus
  streamOpen: boolean
  lastSeq: number
  subscribers: number
}

/**
 * Hands `frame` to `peer` unless it is closing or holds more than `highWaterMark` bytes; false
 * then, and the room pauses the member. A live flush calls this once per member.
 */
export function offer(peer: Peer, frame: OutFrame, highWaterMark: number): boolean {
  if (peer.offer) return peer.offer(frame, highWaterMark)
  if (peer.bufferedAmount > highWaterMark || !peer.open) return false
  peer.send(frame)
  return true
}
