/**
 * The doorbell's message (reader.ts): one per write batch, naming each log the batch grew with
 * its new top id and, when the running node knows the log's top before the batch (`from`), the
 * batch's entries of that log themselves, up to a byte budget per message. A following node whose
 * cursor is at or after `from` applies them as they are, with no XREAD (no round trip, no reply
 * to parse, no read in Redis); one behind `from`, or a log named without entries, is read.
 *
 * Text lines, for each log:
 *
 *   <key>
 *   <from or -> <top> <count>
 *   <id> <field> <value>            (count lines)
 *
 * A value is the entry's field as written to the stream (the event's envelope JSON, a status, the
 * close JSON): JSON text has no raw line break, and a log with a value that has one is only named,
 * never carried. A key with a line break (a key prefix with one) cannot be named at all: such a
 * log is left to the followers' sweep (reader.ts).
 */
import { type EntryId, parseId, type StreamRecord } from './keys.ts'

/** One log of a doorbell as a follower reads it. */
export interface Rung {
  key: string
  top: EntryId
  /** The log's top before the batch; undefined when the entries are not carried. */
  from: EntryId | undefined
  /** The batch's entries of the log, after `from`, in order (empty when not carried). */
  records: StreamRecord[]
}

/** Builds one doorbell message, carrying entries while they fit `budget` bytes. */
export class RingBuilder {
  readonly #lines: string[] = []
  #left: number

  constructor(budget: number) {
    this.#left = budget
  }

  get empty(): boolean {
    return this.#lines.length === 0
  }

  /**
   * Names a log at `top`; with `from`, carries its `entries` (flat: id, field, value, ...) when
   * they fit what is left of the budget.
   */
  add(key: string, top: string, from: string | undefined, entries: readonly string[]): void {
    if (key.includes('\n')) return
    if (from !== undefined && this.#fits(entries)) {
      this.#lines.push(key, `${from} ${top} ${entries.length / 3}`)
      for (let i = 0; i + 2 < entries.length; i += 3)
        this.#lines.push(`${entries[i]} ${entries[i + 1]} ${entries[i + 2]}`)
      return
    }
    this.#lines.push(key, `- ${top} 0`)
  }

  /** The message. */
  message(): string {
    return this.#lines.join('\n')
  }

  #fits(entries: readonly string[]): boolean {
    let units = 0
    for (const s of entries) {
      if (s.includes('\n')) return false
      units += s.length + 1
    }
    // UTF-8 bytes are at most 3 per UTF-16 unit: count exactly only when that could matter.
    let bytes = 3 * units
    if (bytes > this.#left) {
      bytes = 0
      for (const s of entries) bytes += Buffer.byteLength(s, 'utf8') + 1
      if (bytes > this.#left) return false
    }
    this.#left -= bytes
    return true
  }
}

/**
 * Calls `visit` for each log of a doorbell message that `wanted` keeps, with its entries parsed;
 * the entries of the others are skipped unparsed. A malformed message ends the walk. It reads the
 * message's bytes: each value is a string of its own, not a slice of the message that a log
 * cache holding one entry would keep whole (V8 slices keep their parent string alive).
 */
export function forEachRung(
  message: Buffer,
  wanted: (key: string) => boolean,
  visit: (rung: Rung) => void,
): void {
  const n = message.length
  let at = 0
  /** End of the line starting at `at` (n for the last one). */
  const eol = () => {
    const i = message.indexOf(NL, at)
    return i < 0 ? n : i
  }
  while (at < n) {
    let end = eol()
    const key = message.toString('utf8', at, end)
    at = end + 1
    if (at >= n) return
    end = eol()
    const head = message.toString('latin1', at, end).split(' ')
    at = end + 1
    const count = Number(head[2])
    if (head.length !== 3 || !Number.isInteger(count) || count < 0) return
    const keep = wanted(key)
    const records: StreamRecord[] = []
    for (let j = 0; j < count; j++) {
      if (at >= n) return
      end = eol()
      if (keep) {
        const a = message.indexOf(SP, at)
        const b = a < 0 ? -1 : message.indexOf(SP, a + 1)
        if (a < 0 || b < 0 || b >= end) return
        const field = message.toString('latin1', a + 1, b)
        records.push({
          id: parseId(message.toString('latin1', at, a)),
          fields: { [field]: message.toString('utf8', b + 1, end) },
        })
      }
      at = end + 1
    }
    if (keep)
      visit({ key, top: parseId(head[1]!), from: head[0] === '-' ? undefined : parseId(head[0]!), records })
  }
}

const NL = 0x0a
const SP = 0x20
