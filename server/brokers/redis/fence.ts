/**
 * The write fence of one node, without a script per write: every batch the writer sends is one
 * MULTI/EXEC under a WATCH of `<prefix>node:<id>:fence`, a counter that whoever ends or takes over
 * this node's executions bumps in the same script that does it (the lease sweep, lease.ts). A bump
 * after the WATCH makes Redis drop the whole EXEC; a bump before it shows as a changed value, on
 * which the writer re-reads each execution's hash before writing anything more (see writer.ts).
 *
 * Why not the former per-execution Lua script: it re-checked the hash and the stream top for each
 * execution on each tick (~54 µs of Redis time per event at one event per tick). The sweep is the
 * only thing that may end another node's execution, and it always bumps the counter, so one
 * watched key per node carries the same guarantee for every execution at once.
 *
 * The WATCH for the next batch is sent right after each EXEC in the same pipeline, so the fence
 * costs no extra round trip. WATCH lives on the connection: the writer owns its connection (an
 * EXEC sent by anyone else on it would consume the WATCH), and a reconnect disarms the fence.
 */
import type { Redis } from 'ioredis'

/** The commands a pipeline ends with to arm the fence for the next batch; their replies go to settle(). */
export type FenceCommands = [string, ...string[]][]

/** One node's fence on its writer connection. */
export class WriteFence {
  readonly #conn: Redis
  readonly #key: string
  /** The counter's value under the WATCH in force; undefined when no WATCH is in force. */
  #armed: string | null | undefined
  /** The value this node last checked its executions against; a fresh node id has no counter. */
  #checked: string | null = null
  /** Set when something else (a lapsed lease) calls for a check whatever the value. */
  #suspect = false

  constructor(conn: Redis, key: string) {
    this.#conn = conn
    this.#key = key
    conn.on('close', () => {
      this.#armed = undefined
    })
  }

  /** True while a WATCH from this connection's current session is in force. */
  get armed(): boolean {
    return this.#armed !== undefined
  }

  /**
   * True when the counter moved since the executions were last checked: the caller re-reads
   * their hashes (under the WATCH in force) and then calls checked().
   */
  get moved(): boolean {
    return this.#armed !== undefined && (this.#suspect || this.#armed !== this.#checked)
  }

  /** True while a check is due: the counter moved since the last one, or the lease lapsed. */
  get unsure(): boolean {
    return this.#suspect || (this.#armed !== undefined && this.#armed !== this.#checked)
  }

  /** Arms the fence on its own (the first batch, and after a reconnect). */
  async arm(): Promise<void> {
    const replies = (await this.#conn.pipeline(this.commands()).exec()) ?? []
    this.settle(replies)
  }

  /** WATCH and GET: appended after the EXEC of every batch. */
  commands(): FenceCommands {
    return [
      ['watch', this.#key],
      ['get', this.#key],
    ]
  }

  /** Takes the replies to commands(); a failed one leaves the fence disarmed. */
  settle(replies: [Error | null, unknown][]): void {
    const [watch, get] = replies
    if (!watch || !get || watch[0] || get[0]) {
      this.#armed = undefined
      return
    }
    this.#armed = (get[1] as string | null) ?? null
  }

  /** The executions were checked against the armed value. */
  checked(): void {
    if (this.#armed === undefined) return
    this.#checked = this.#armed
    this.#suspect = false
  }

  /** Forces a check before the next batch (this node's lease was found lapsed). */
  suspect(): void {
    this.#suspect = true
  }
}
