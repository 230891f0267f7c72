/**
 * How much of a runtime stream is kept: one definition of the bounds and their defaults, used by
 * the engine's log, by a server node's copy of a remote log and by the server's configuration.
 */

/** Bounds of a retained runtime stream; the older entries go first. */
export interface Retention {
  /** Most entries kept. */
  maxEvents: number
  /** Most bytes (of encoded JSON) kept; the newest entry is kept whatever its size. */
  maxBytes: number
}

/**
 * Defaults: enough for a long model chain's token stream, small enough that a node holding a
 * few hundred finished executions stays within a few GiB at worst.
 */
export const DEFAULT_RETENTION: Readonly<Retention> = Object.freeze({
  maxEvents: 10_000,
  maxBytes: 16 * 1024 * 1024,
})
