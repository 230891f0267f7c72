/**
 * The protocol version and the WebSocket close codes: plain constants, free of any schema, so a
 * client that needs only these carries nothing else.
 */

export const PROTOCOL_VERSION = 1 as const

/** Close codes the server uses, beside the standard 1001/1009/1012. */
export const CloseCode = {
  goingAway: 1001,
  tooBig: 1009,
  restarting: 1012,
  unauthorized: 4001,
  forbidden: 4003,
  tooSlow: 4008,
  rateLimited: 4029,
} as const
