/**
 * Whether this node reaches its Redis, told from its connections (commands,
 * reader, pub/sub). A node never waits for Redis to start or exits for want of it: the
 * connections are opened once and ioredis retries them for ever with a capped backoff
 * (`retryDelayMs`); the link is *up* once all three are ready and the node has joined (taken its
 * lease and subscribed its channel, once), *down* as soon as one of them closes. Each change of
 * state is reported once, however many retries an outage takes, so a log says "down" and "up"
 * and not one line per attempt.
 */
import type { Redis } from 'ioredis'

/** Delay before reconnection attempt `times` (1, 2, ...): doubling from 100 ms, at most 1 s. */
export function retryDelayMs(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 5), RETRY_MAX_MS)
}

/** The longest delay between two reconnection attempts. */
export const RETRY_MAX_MS = 1000

/** A change of the link's state, as reported to `onChange`. */
export interface LinkChange {
  up: boolean
  /** Why it is down: the last connection error (absent when up). */
  error?: string
}

export interface RedisLinkOptions {
  /** The node's connections, created with `lazyConnect`. */
  connections: Redis[]
  /** Takes the lease and subscribes the node's channel; run once, when all connections are first ready. */
  join(): Promise<void>
  /** Told each change of state (the first outcome included). */
  onChange?: (change: LinkChange) => void
}

/** The up/down state of one node's Redis connections. */
export class RedisLink {
  readonly #o: RedisLinkOptions
  /** Undefined until the first outcome (ready, a failure, or the start bound passing). */
  #up: boolean | undefined
  #joined = false
  #joining = false
  #retries = 0
  #lastError: string | undefined
  #closed = false
  readonly #settled = new Set<() => void>()

  constructor(options: RedisLinkOptions) {
    this.#o = options
    const [first] = options.connections
    for (const c of options.connections) {
      c.on('error', (err: Error) => {
        this.#lastError = err.message
      })
      c.on('ready', () => this.#check())
      c.on('close', () => this.#set(false))
    }
    // One count per outage, from one connection: the three retry in step.
    first?.on('reconnecting', () => {
      if (this.#up !== true) this.#retries++
    })
  }

  /** True while every connection is ready and the node has joined. */
  get up(): boolean {
    return this.#up === true && this.#o.connections.every((c) => c.status === 'ready')
  }

  /** Why the link is not up, for health reports: the worst connection's state, the retries, the last error. */
  detail(): string {
    const down = this.#o.connections.find((c) => c.status !== 'ready')
    const state = down ? down.status : 'joining'
    const retries = this.#retries > 0 ? ` (retry ${this.#retries})` : ''
    return `redis ${state}${retries}${this.#lastError ? `: ${this.#lastError}` : ''}`
  }

  /**
   * Opens the connections; resolves once the first outcome is known (up, or one connection
   * failed), or after `boundMs` (then the link counts as down): never rejects.
   */
  async open(boundMs: number): Promise<void> {
    const known = new Promise<void>((resolve) => this.#settled.add(resolve))
    for (const c of this.#o.connections) c.connect().catch(() => undefined)
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([known, new Promise<void>((resolve) => (timer = setTimeout(resolve, boundMs)))])
    clearTimeout(timer)
    if (this.#up === undefined) this.#set(false)
  }

  /** Stops reporting (the broker is closing its connections on purpose). */
  close(): void {
    this.#closed = true
    for (const done of this.#settled) done()
    this.#settled.clear()
  }

  /** On a connection becoming ready: up when all are, after joining once. */
  #check(): void {
    if (this.#closed || !this.#o.connections.every((c) => c.status === 'ready')) return
    if (this.#joined) {
      this.#set(true)
      return
    }
    if (this.#joining) return
    this.#joining = true
    this.#o.join().then(
      () => {
        this.#joining = false
        this.#joined = true
        this.#check()
      },
      () => {
        // A connection dropped while joining: the next 'ready' tries again.
        this.#joining = false
      },
    )
  }

  #set(up: boolean): void {
    if (this.#closed || up === this.#up) return
    this.#up = up
    if (up) this.#retries = 0
    this.#o.onChange?.(up ? { up } : { up, ...(this.#lastError ? { error: this.#lastError } : {}) })
    if (up) this.#lastError = undefined
    for (const done of this.#settled) done()
    this.#settled.clear()
  }
}
