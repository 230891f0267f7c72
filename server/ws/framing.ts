/**
 * Pre-framed WebSocket sends: the hot path's one write per socket.
 *
 * `ws.send(buffer)` builds a fresh frame header, two option objects and a corked two-part write
 * for every socket, although a room flush sends the same bytes to all of them. Here the frame
 * (header and payload in one Buffer) is built once per flush and handed to each socket's Sender
 * as it is, which is what socket.io's broadcast and the raw-ws bench baseline do.
 *
 * That reaches past ws's public API (`Sender.frame`, `websocket._sender.sendFrame`),
 * so every step checks what it relies on and falls back to `ws.send` when anything is not as
 * expected. Writing around the Sender is only safe while the Sender holds nothing back: its
 * state must be idle (no permessage-deflate or Blob read in flight, whose frames would otherwise
 * come after ours) and its queue empty. The server turns permessage-deflate off, so in practice
 * the Sender is always idle and the fallback is only for what a future ws might change.
 */

import type { WebSocket } from 'ws'
import * as wsModule from 'ws'
import type { FrameEncoding, OutFrame } from '../fanout/frame.ts'

interface SenderInternals {
  _state?: number
  _queue?: unknown[]
  sendFrame?(list: Buffer[], cb?: (err?: Error) => void): void
}

type FrameFn = (data: Buffer, options: Record<string, unknown>) => Buffer[]

type SenderClass = { frame?: FrameFn }
// ws's ESM entry exports `Sender` by name; its CommonJS entry hangs it on the WebSocket class.
const ns = wsModule as unknown as {
  Sender?: SenderClass
  default?: { Sender?: SenderClass }
  WebSocket?: { Sender?: SenderClass }
}
const SenderCtor = ns.Sender ?? ns.default?.Sender ?? ns.WebSocket?.Sender
const frameFn = typeof SenderCtor?.frame === 'function' ? SenderCtor.frame.bind(SenderCtor) : undefined
/** ws's Sender state when nothing is being compressed or read (`DEFAULT` in ws/lib/sender.js). */
const SENDER_IDLE = 0
/** A final, unmasked, uncompressed text frame: what a server sends for `ws.send(string)`. */
const TEXT_FRAME = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true }
const TEXT = { binary: false }

/**
 * The complete text frame (header + payload in one Buffer) for `payload`, as the one-element list
 * `sendFrame` takes (reused for every socket: ws only reads it), or undefined when ws cannot
 * frame it for us.
 */
export function textFrame(payload: Buffer): Buffer[] | undefined {
  if (!frameFn) return undefined
  const parts = frameFn(payload, TEXT_FRAME)
  return [parts.length === 1 ? parts[0]! : Buffer.concat(parts)]
}

/**
 * Sends one text message on an open socket: the pre-built `framed` bytes when ws's Sender can
 * take them directly, otherwise `ws.send(payload)`.
 */
export function sendText(ws: WebSocket, payload: Buffer, framed: Buffer[] | undefined): void {
  const sender = (ws as unknown as { _sender?: SenderInternals })._sender
  if (
    framed !== undefined &&
    sender !== undefined &&
    sender._state === SENDER_IDLE &&
    sender._queue?.length === 0 &&
    typeof sender.sendFrame === 'function'
  ) {
    sender.sendFrame(framed)
    return
  }
  ws.send(payload, TEXT)
}

/** A room frame's WebSocket bytes: the payload, and the whole pre-built frame where ws lets us. */
export interface WsBytes {
  readonly payload: Buffer
  readonly framed: Buffer[] | undefined
}

/** The WebSocket encoding of room frames: built on the first socket's send, reused by the rest. */
const wsEncoding: FrameEncoding<WsBytes> = {
  encode(frame) {
    const payload = Buffer.from(frame.json, 'utf8')
    return { payload, framed: textFrame(payload) }
  },
}

/** The WebSocket bytes of `frame`, encoded once for every socket of the room. */
export function wsBytes(frame: OutFrame): WsBytes {
  return frame.encoded(wsEncoding)
}

/** Sends a room frame on an open socket, with the bytes every other socket of the room shares. */
export function sendFrame(ws: WebSocket, frame: OutFrame): void {
  const bytes = frame.encoded(wsEncoding)
  sendText(ws, bytes.payload, bytes.framed)
}
