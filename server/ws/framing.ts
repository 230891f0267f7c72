/**
 * Pre-framed WebSocket sends: the hot path's one write per socket.
 *
 * `ws.send(buffer)` builds a fresh frame header, two option objects and a corked two-part write
 * for every socket, although a room flush sends the same bytes to all of them. Here the frame
 * (header and payload in one Buffer) is built once per flush and handed to each socket's Sender
 * as it is, which is what socket.io's broadcast and the raw-ws bench baseline do.
 *
 * The frame is a final, unmasked text frame (RFC 6455 section 5.2), what a server sends for
 * `ws.send(string)`, written here with its payload encoded straight behind the header. Handing it
 * over reaches past ws's public API (`websocket._sender.sendFrame`), so every send checks what it
 * relies on and falls back to `ws.send` when anything is not as expected. Writing around the
 * Sender is only safe while the Sender holds nothing back: its state must be idle (no
 * permessage-deflate or Blob read in flight, whose frames would otherwise come after ours) and its
 * queue empty. The server turns permessage-deflate off, so in practice the Sender is always idle
 * and the fallback is only for what a future ws might change.
 */

import type { WebSocket } from 'ws'
import type { FrameEncoding, OutFrame } from '../fanout/frame.ts'

interface SenderInternals {
  _state?: number
  _queue?: unknown[]
  sendFrame?(list: Buffer[], cb?: (err?: Error) => void): void
}

/** ws's Sender state when nothing is being compressed or read (`DEFAULT` in ws/lib/sender.js). */
const SENDER_IDLE = 0
const TEXT = { binary: false }

/** Bytes of a server text frame's header for a payload of `bytes`. */
function headerLength(bytes: number): number {
  return bytes < 126 ? 2 : bytes < 65_536 ? 4 : 10
}

/** Writes the header of a final, unmasked text frame with a payload of `bytes` at the start of `buf`. */
function writeHeader(buf: Buffer, bytes: number): void {
  buf[0] = 0x81 // FIN + text opcode
  if (bytes < 126) buf[1] = bytes
  else if (bytes < 65_536) {
    buf[1] = 126
    buf.writeUInt16BE(bytes, 2)
  } else {
    buf[1] = 127
    buf.writeUInt32BE(0, 2)
    buf.writeUIntBE(bytes, 4, 6)
  }
}

/**
 * The complete text frame (header + payload in one Buffer) for `payload`, as the one-element list
 * `sendFrame` takes (reused for every socket: ws only reads it).
 */
export function textFrame(payload: Buffer): Buffer[] {
  const header = headerLength(payload.length)
  const buf = Buffer.allocUnsafe(header + payload.length)
  writeHeader(buf, payload.length)
  payload.copy(buf, header)
  return [buf]
}

/**
 * Sends one text message on an open socket: the pre-built `framed` bytes when ws's Sender can
 * take them directly, otherwise `ws.send(payload)`.
 */
export function sendText(ws: WebSocket, payload: Buffer, framed: Buffer[] | undefined): void {
  if (framed === undefined || !writeFramed(ws, framed)) ws.send(payload, TEXT)
}

/** Hands `framed` to ws's Sender when it can take it now; false when ws.send must be used instead. */
function writeFramed(ws: WebSocket, framed: Buffer[]): boolean {
  const sender = (ws as unknown as { _sender?: SenderInternals })._sender
  if (
    sender === undefined ||
    sender._state !== SENDER_IDLE ||
    sender._queue?.length !== 0 ||
    typeof sender.sendFrame !== 'function'
  )
    return false
  sender.sendFrame(framed)
  return true
}

/** Payload bytes of a heartbeat ping (random; its pong must echo them). */
export const PING_PAYLOAD_BYTES = 8
/** Bytes of a whole heartbeat ping frame: the 2-byte header and the payload. */
export const PING_FRAME_BYTES = 2 + PING_PAYLOAD_BYTES

/**
 * Writes the header of a final, unmasked ping frame (opcode 0x9) with a PING_PAYLOAD_BYTES payload
 * at `at` in `buf`: the bytes ws's `ping(payload)` sends, for a frame built ahead of its send.
 */
export function writePingHeader(buf: Buffer, at: number): void {
  buf[at] = 0x89 // FIN + ping opcode
  buf[at + 1] = PING_PAYLOAD_BYTES
}

/**
 * Sends a whole ping frame (writePingHeader's layout) on an open socket as one write, when ws's
 * Sender can take it as it is; false when the caller must use `ws.ping(payload)` (a socket not
 * open, or one whose Sender holds something back). ws's own ping builds a header Buffer and writes
 * the two parts corked, which costs a writev of two buffers per ping.
 */
export function sendPingFrame(ws: WebSocket, frame: Buffer): boolean {
  return ws.readyState === OPEN && writeFramed(ws, [frame])
}

/** ws's `WebSocket.OPEN`. */
export const OPEN = 1

/** A room frame's WebSocket bytes: the whole frame, and its payload for the `ws.send` fallback. */
export class WsBytes {
  /** The frame as the one-element list `sendFrame` takes. */
  readonly framed: Buffer[]
  readonly #header: number

  /**
   * The text frame of `json` (`bytes` UTF-8 bytes) in one allocation, the payload encoded straight
   * behind the header: no separate payload Buffer, header Buffer and concatenation (one copy of
   * the text instead of three); the byte count is the one the room's metrics read anyway.
   */
  constructor(json: string, bytes: number) {
    this.#header = headerLength(bytes)
    const buf = Buffer.allocUnsafe(this.#header + bytes)
    writeHeader(buf, bytes)
    buf.write(json, this.#header, bytes, 'utf8')
    this.framed = [buf]
  }

  /** The payload alone (a view into the frame), for a socket whose Sender is busy. */
  get payload(): Buffer {
    return this.framed[0]!.subarray(this.#header)
  }
}

/** The WebSocket encoding of room frames: built on the first socket's send, reused by the rest. */
const wsEncoding: FrameEncoding<WsBytes> = {
  encode: (frame) => new WsBytes(frame.json, frame.byteLength),
}

/** The WebSocket bytes of `frame`, encoded once for every socket of the room. */
export function wsBytes(frame: OutFrame): WsBytes {
  return frame.encoded(wsEncoding)
}

/** Sends a room frame on an open socket, with the bytes every other socket of the room shares. */
export function sendFrame(ws: WebSocket, frame: OutFrame): void {
  const bytes = frame.encoded(wsEncoding)
  if (!writeFramed(ws, bytes.framed)) ws.send(bytes.payload, TEXT)
}
