/**
 * Frames in: turns one inbound WebSocket message into a validated ClientFrame or the error reply
 * it earns (`bad_frame`, `unknown_type`), with the request id echoed whenever the frame had one.
 * Nothing here touches a socket or a room.
 */
import { AuthFrame, CLIENT_FRAME_TYPES, ClientFrame, type FlowcastErrorCode } from '@flowcast/protocol'
import type { z } from 'zod'
import type { RequestId } from './connection.ts'

/** A message that is not a valid client frame: the error to answer with. */
export interface Refusal {
  readonly id: RequestId | undefined
  readonly code: FlowcastErrorCode
  readonly message: string
}

/** What one message decodes to. */
export type Decoded = { ok: true; frame: ClientFrame } | ({ ok: false } & Refusal)

const refuse = (id: RequestId | undefined, code: FlowcastErrorCode, message: string): Decoded => ({
  ok: false,
  id,
  code,
  message,
})

/** Decodes one message: JSON text holding an object whose `type` is a client frame type, valid per its schema. */
export function decodeFrame(data: Buffer, isBinary: boolean): Decoded {
  if (isBinary) return refuse(undefined, 'bad_frame', 'binary frames are not supported')
  let raw: unknown
  try {
    raw = JSON.parse(data.toString('utf8'))
  } catch {
    return refuse(undefined, 'bad_frame', 'malformed JSON')
  }
  const obj =
    typeof raw === 'object' && raw !== null && !Array.isArray(raw)
      ? (raw as Record<string, unknown>)
      : undefined
  if (!obj) return refuse(undefined, 'bad_frame', 'a frame must be a JSON object')
  const id = isRequestId(obj.id) ? obj.id : undefined
  if (typeof obj.type !== 'string' || !(CLIENT_FRAME_TYPES as readonly string[]).includes(obj.type)) {
    // `type` may be absent (JSON.stringify gives undefined) or any JSON value: describe, never throw.
    const shown = obj.type === undefined ? 'missing' : clip(JSON.stringify(obj.type))
    return refuse(id, 'unknown_type', `unknown frame type ${shown}`)
  }
  const parsed = ClientFrame.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(frame)'
    return refuse(id, 'bad_frame', clip(`${obj.type}: ${where}: ${issue?.message ?? 'invalid'}`))
  }
  return { ok: true, frame: parsed.data }
}

/** The `auth` frame in `data`, or undefined when it is anything else. */
export function decodeAuthFrame(data: Buffer): z.infer<typeof AuthFrame> | undefined {
  try {
    const parsed = AuthFrame.safeParse(JSON.parse(data.toString('utf8')))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

function isRequestId(v: unknown): v is RequestId {
  return (typeof v === 'string' && v.length <= 64) || (typeof v === 'number' && Number.isSafeInteger(v))
}

/**
 * `{"type":"<name>","id":<id>` at the very start of a frame, as every client (JSON.stringify of
 * `{ type, id, ... }`) writes it: enough to route a rate_limited reply without parsing the frame.
 * Anything else (other key order, escapes in the id) gets a reply without an id.
 */
const LEADING_ID = /^\{"type":"[a-z_]{1,32}","id":(?:"([^"\\]{0,64})"|(-?\d{1,16}))[,}]/

/** The request id at the start of `data` (see LEADING_ID), reading at most its first 128 bytes. */
export function leadingId(data: Buffer): RequestId | undefined {
  const m = LEADING_ID.exec(data.toString('utf8', 0, Math.min(data.length, 128)))
  if (!m) return undefined
  if (m[1] !== undefined) return m[1]
  const n = Number(m[2])
  return Number.isSafeInteger(n) ? n : undefined
}

/** Keeps error messages small whatever the client sent. */
function clip(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`
}
