/**
 * The client's defaults, in one place; `ClientOptions` in types.ts documents each option.
 */
import type { ReconnectOptions } from './types.ts'

export const DEFAULT_RECONNECT: Required<ReconnectOptions> = {
  baseMs: 250,
  maxMs: 10_000,
  minUptimeMs: 5_000,
  connectTimeoutMs: 10_000,
  // Two failures in a row: one may be a restart or a blip, two is likely a proxy that blocks it.
  fallbackAfter: 2,
}

/** Silence before a ping; a dead link is noticed within twice this (16 s), under the 20 s a UI can bear. */
export const DEFAULT_HEARTBEAT_MS = 8_000

/** Commands held while the socket is not open. */
export const DEFAULT_MAX_QUEUE = 1_000

/** How long a command waits for its reply. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000

/**
 * The SSE stream's silence limit: the server's keep-alive comes every heartbeat (30 s unless set),
 * so a little over one missed keep-alive counts as a dead link.
 */
export const SSE_IDLE_MS = 45_000
