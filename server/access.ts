/**
 * The access seam: routes and the socket hub ask a Principal what it may do and never look at
 * credentials themselves, so token auth can be added as a resolver without touching them.
 */
import type { IncomingMessage } from 'node:http'

/** Who is asking, as far as permissions go. */
export interface Principal {
  /** Subscribe, read history, SSE and results of this execution. */
  canRead(executionId: string): boolean
  /** Stop the stream and continue interrupts of this execution. */
  canCommand(executionId: string): boolean
  /** Start executions (and, later, mint tokens). */
  canStart(): boolean
}

/** Turns a request into a Principal; throws FlowcastError('unauthorized') to refuse it. */
export interface AccessResolver {
  fromHttp(headers: Headers): Promise<Principal>
  fromUpgrade(req: IncomingMessage): Promise<Principal>
}

const everyone: Principal = {
  canRead: () => true,
  canCommand: () => true,
  canStart: () => true,
}

/** `auth: 'off'`: every client is admin of everything. */
export function openAccess(): AccessResolver {
  return {
    fromHttp: async () => everyone,
    fromUpgrade: async () => everyone,
  }
}
