/**
 * Request/reply over Node's IPC channel, for both ends: the orchestrator holds a Peer per child,
 * a child answers with serveParent. Every request has a deadline so a wedged child can never hang
 * the run.
 */
import { type ChildProcess, type Serializable, spawn } from 'node:child_process'
import type { Envelope, Reply } from './protocol.ts'

export class Peer {
  private nextRid = 1
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >()
  private readonly listeners = new Set<(msg: any) => void>()
  readonly exited: Promise<number | null>

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (msg: any) => {
      if (msg && typeof msg.rid === 'number' && typeof msg.ok === 'boolean') {
        const reply = msg as Reply
        const p = this.pending.get(reply.rid)
        if (!p) return
        this.pending.delete(reply.rid)
        clearTimeout(p.timer)
        if (reply.ok) p.resolve(reply.result)
        else p.reject(new Error(`${name}: ${reply.error}`))
        return
      }
      for (const l of this.listeners) l(msg)
    })
    this.exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        for (const p of this.pending.values()) {
          clearTimeout(p.timer)
          p.reject(new Error(`${name} exited (code ${code})`))
        }
        this.pending.clear()
        resolve(code)
      })
    })
  }

  onMessage(listener: (msg: any) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Resolves with the first unsolicited message that matches, or rejects at the deadline. */
  waitFor<T>(match: (msg: any) => boolean, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off()
        reject(new Error(`${this.name}: no message within ${timeoutMs} ms`))
      }, timeoutMs)
      const off = this.onMessage((msg) => {
        if (!match(msg)) return
        clearTimeout(timer)
        off()
        resolve(msg as T)
      })
      void this.exited.then((code) => {
        clearTimeout(timer)
        off()
        reject(new Error(`${this.name} exited (code ${code}) before it was ready`))
      })
    })
  }

  request<T>(body: unknown, timeoutMs: number): Promise<T> {
    if (!this.child.connected) return Promise.reject(new Error(`${this.name} is not connected`))
    const rid = this.nextRid++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid)
        reject(
          new Error(`${this.name}: no reply to ${JSON.stringify(body).slice(0, 60)} within ${timeoutMs} ms`),
        )
      }, timeoutMs)
      this.pending.set(rid, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.child.send({ rid, body } satisfies Envelope)
    })
  }

  send(msg: Serializable): void {
    if (this.child.connected) this.child.send(msg)
  }

  /** Asks nicely (disconnecting makes the child exit), then kills after graceMs. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    if (this.child.connected) this.child.disconnect()
    const killer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(killer)
  }
}

export interface SpawnOptions {
  /** CPU list for taskset, or undefined to leave the process unpinned. */
  cpus?: string
  /** Extra node flags, e.g. --expose-gc. */
  nodeFlags?: string[]
}

/**
 * Starts a TypeScript file in a fresh node (with the tsx loader) rather than through the tsx CLI,
 * whose extra parent process would sit between us and the IPC channel, the pid and the CPU pin.
 */
export function spawnTs(name: string, file: string, opts: SpawnOptions = {}): Peer {
  // Resolved here rather than by name so the run works from any working directory.
  const nodeArgs = [...(opts.nodeFlags ?? []), '--import', import.meta.resolve('tsx'), file]
  const [cmd, args] = opts.cpus
    ? ['taskset', ['-c', opts.cpus, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs]
  const child = spawn(cmd, args as string[], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  })
  return new Peer(name, child)
}

/**
 * The child side: answers requests with handler, passes other messages to onOther, and exits when
 * the parent goes away or after maxLifetimeMs, so no bench process can outlive its run.
 */
export function serveParent(
  handler: (body: any) => Promise<unknown>,
  onOther: (msg: any) => void,
  maxLifetimeMs: number,
  onExit: () => Promise<void> | void = () => {},
): void {
  if (!process.send) throw new Error('this process must be started with an IPC channel (by bench/run.ts)')
  let exiting = false
  const exit = async (code: number) => {
    if (exiting) return
    exiting = true
    const hard = setTimeout(() => process.exit(code), 2000)
    hard.unref()
    try {
      await onExit()
    } finally {
      process.exit(code)
    }
  }
  process.on('disconnect', () => void exit(0))
  setTimeout(() => {
    process.stderr.write(`bench child ${process.pid}: lifetime of ${maxLifetimeMs} ms reached, exiting\n`)
    void exit(2)
  }, maxLifetimeMs).unref()
  process.on('message', (msg: any) => {
    if (msg && typeof msg.rid === 'number' && 'body' in msg) {
      const { rid, body } = msg as Envelope
      handler(body).then(
        (result) => reply({ rid, ok: true, result }),
        (err: unknown) => reply({ rid, ok: false, error: err instanceof Error ? err.message : String(err) }),
      )
      return
    }
    onOther(msg)
  })
}

function reply(r: Reply): void {
  if (process.connected) process.send!(r)
}
