/**
 * Commands over pub/sub: request/response between nodes. Every node listens on its own channel;
 * a request names the execution and the command, and the reply comes back on the requester's
 * channel under the request's id. A node that is gone is detected at once (PUBLISH reaches
 * nobody); a node that does not answer in time is a broker_unavailable error, never a hang.
 */

import { FlowcastError, type FlowcastErrorCode, isFlowcastError } from '@flowcast/protocol'
import type { Redis } from 'ioredis'
import { nanoid } from 'nanoid'
import type { BrokerCommand, CommandOutcome } from '../broker.ts'
import type { RedisKeys } from './keys.ts'

type Message =
  | { t: 'cmd'; rid: string; from: string; executionId: string; command: BrokerCommand }
  | { t: 'reply'; rid: string; outcome: CommandOutcome }
  | { t: 'reply'; rid: string; error: { code: FlowcastErrorCode; message: string } }

interface Pending {
  resolve(outcome: CommandOutcome): void
  reject(err: Error): void
  timer: ReturnType<typeof setTimeout>
}

export interface CommandBusOptions {
  /** Publishes requests and replies. */
  pub: Redis
  /** The node's pub/sub connection: this node's channel, and the reader's doorbells (redis/reader.ts). */
  sub: Redis
  keys: RedisKeys
  nodeId: string
  /** Runs a command on an execution of this node. */
  handle(executionId: string, command: BrokerCommand): Promise<CommandOutcome>
  timeoutMs?: number
  onError?: (err: unknown, context: string) => void
}

/** Request/response over Redis pub/sub between the nodes of one key prefix. */
export class CommandBus {
  readonly #o: CommandBusOptions
  readonly #pending = new Map<string, Pending>()
  readonly #channel: string

  constructor(options: CommandBusOptions) {
    this.#o = options
    this.#channel = options.keys.node(options.nodeId)
    // As bytes: a 'message' listener would have ioredis decode every doorbell ring too (reader.ts).
    const channel = Buffer.from(this.#channel)
    options.sub.on('messageBuffer', (from: Buffer, text: Buffer) => {
      if (from.equals(channel)) this.#receive(text.toString())
    })
  }

  /** Subscribes to this node's channel (ioredis re-subscribes by itself after a reconnect). */
  async start(): Promise<void> {
    await this.#o.sub.subscribe(this.#channel)
  }

  /** Sends `command` to `node` and waits for its reply. */
  async send(node: string, executionId: string, command: BrokerCommand): Promise<CommandOutcome> {
    const rid = nanoid()
    const timeoutMs = this.#o.timeoutMs ?? 5_000
    const reply = new Promise<CommandOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rid)
        reject(
          new FlowcastError(
            'broker_unavailable',
            `the node running execution ${executionId} did not answer within ${timeoutMs} ms`,
          ),
        )
      }, timeoutMs)
      this.#pending.set(rid, { resolve, reject, timer })
    })
    const message: Message = { t: 'cmd', rid, from: this.#o.nodeId, executionId, command }
    let receivers: number
    try {
      receivers = await this.#o.pub.publish(this.#o.keys.node(node), JSON.stringify(message))
    } catch (err) {
      this.#settle(rid)?.reject(unavailable(err))
      return reply
    }
    if (receivers === 0) {
      this.#settle(rid)?.reject(
        new FlowcastError('broker_unavailable', `the node running execution ${executionId} is not reachable`),
      )
    }
    return reply
  }

  /** Fails every waiting request (shutdown). */
  close(): void {
    for (const rid of [...this.#pending.keys()]) {
      this.#settle(rid)?.reject(new FlowcastError('broker_unavailable', 'the broker is closed'))
    }
  }

  #settle(rid: string): Pending | undefined {
    const p = this.#pending.get(rid)
    if (!p) return undefined
    this.#pending.delete(rid)
    clearTimeout(p.timer)
    return p
  }

  #receive(text: string): void {
    let m: Message
    try {
      m = JSON.parse(text) as Message
    } catch {
      return
    }
    if (m.t === 'reply') {
      const p = this.#settle(m.rid)
      if (!p) return
      if ('error' in m) p.reject(new FlowcastError(m.error.code, m.error.message))
      else p.resolve(m.outcome)
      return
    }
    if (m.t === 'cmd') void this.#serve(m)
  }

  async #serve(m: Extract<Message, { t: 'cmd' }>): Promise<void> {
    let reply: Message
    try {
      reply = { t: 'reply', rid: m.rid, outcome: await this.#o.handle(m.executionId, m.command) }
    } catch (err) {
      const error = isFlowcastError(err)
        ? { code: err.code, message: err.message }
        : { code: 'internal' as const, message: 'internal error' }
      if (!isFlowcastError(err)) this.#o.onError?.(err, 'redis command')
      reply = { t: 'reply', rid: m.rid, error }
    }
    try {
      await this.#o.pub.publish(this.#o.keys.node(m.from), JSON.stringify(reply))
    } catch (err) {
      this.#o.onError?.(err, 'redis command reply')
    }
  }
}

/** A Redis failure as the error routes and frames show. */
export function unavailable(err: unknown): FlowcastError {
  if (isFlowcastError(err)) return err
  const message = err instanceof Error ? err.message : String(err)
  return new FlowcastError('broker_unavailable', `redis is unavailable: ${message}`, { cause: err })
}
