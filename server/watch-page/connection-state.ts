/**
 * The watch view's facts line: the execution's status, the connection's state and the polite
 * live region that reads both out. A final status is never replaced by a non-final one that
 * arrives late (a snapshot racing the live stream).
 */
import type { ConnectionState } from '@flowcast/client'
import { type ExecutionStatus, isTerminal } from '@flowcast/protocol'
import { byId } from './dom.ts'

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  idle: 'not connected',
  connecting: 'connecting…',
  open: 'connected',
  reconnecting: 'reconnecting…',
  closed: 'closed',
}

/** The execution's status and the connection's state as the page shows them. */
export class ConnectionView {
  #status: ExecutionStatus | '' = ''
  readonly #executionId: string
  readonly #onFinal: () => void

  /** `onFinal` runs once the status becomes final. */
  constructor(executionId: string, onFinal: () => void) {
    this.#executionId = executionId
    this.#onFinal = onFinal
  }

  /** True once the execution has reached a final status. */
  get final(): boolean {
    return isTerminal(this.#status)
  }

  /** Reads the status and connection out, with an optional extra sentence. */
  announce(extra = ''): void {
    const conn = byId('connection').textContent
    byId('live-status').textContent =
      `Status ${this.#status || 'unknown'}, ${conn}.${extra ? ` ${extra}` : ''}`
  }

  /** Shows `status`, unless it is unknown, unchanged, or would replace a final one. */
  setStatus(status: ExecutionStatus | undefined): void {
    if (!status || (this.final && !isTerminal(status)) || status === this.#status) return
    this.#status = status
    const badge = byId('status')
    badge.textContent = status
    badge.dataset.status = status
    document.title = `${status} · ${this.#executionId} · flowcast`
    if (this.final) this.#onFinal()
    this.announce()
  }

  /** Shows the SDK's connection state. */
  setConnection(state: ConnectionState): void {
    const badge = byId('connection')
    badge.textContent = CONNECTION_TEXT[state] ?? state
    badge.dataset.state = state
    this.announce()
  }
}
