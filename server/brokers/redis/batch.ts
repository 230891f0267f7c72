/**
 * Sends one batch of commands (the writer's MULTI ... EXEC, WATCH, GET) as ONE socket write and
 * answers as `pipeline(commands).exec()` does: one `[error, reply]` per command, replies as
 * strings, an EXEC's results as an array holding its refused commands' errors.
 *
 * Why not `pipeline().exec()`: at 5,000 streams the running node sends
 * 250-300 batches a second of ~12 commands each (0.12-0.15 MULTI per event at 2,000 events/s),
 * and for each ioredis's pipeline built a Pipeline (copying the connection's script and command
 * names onto it) and, per command, a Command from its arguments through the generated method, a
 * promise and two more for its `.then().catch()`, and a result slot (issue 18: ioredis was 8.7%
 * of node A's samples in the bench's window, 48% of its busy ones, a third of that the socket
 * write itself). Here each command is a bare Command whose wire form is encoded here and whose
 * `resolve`/`reject` fill the batch's slot directly, sent with `sendCommand(command, stream)` into
 * a PipelineWriteableStream that concatenates them and writes once, as ioredis's own Pipeline
 * does. Only ioredis's typed public surface is used (`Command`, `toWritable`, `resolve`/`reject`,
 * `sendCommand`, `stream`); a connection this cannot encode for exactly (a `keyPrefix`, a
 * `commandTimeout`, an offline queue, a cluster) gets `pipeline()`, as does an ioredis without
 * that surface (`directBatches`).
 */
import { Command, type Redis } from 'ioredis'

/** One command of a batch, as sent: name, then arguments. */
export type BatchCommand = [string, ...(string | number)[]]

/** A command's answer, as `pipeline().exec()` gives it. */
export type BatchReply = [Error | null, unknown]

/** Sends `commands` in order on one connection and resolves with one reply per command. */
export type BatchSender = (commands: BatchCommand[]) => Promise<BatchReply[]>

/**
 * True when `redis` can take a batch encoded here: ioredis has the surface used, nothing on the
 * connection rewrites a command's arguments (`keyPrefix`) or times it (`commandTimeout`), and it
 * has no offline queue (the broker's connections have none).
 */
export function directBatches(redis: Redis): boolean {
  const options = redis.options ?? {}
  return (
    typeof Command === 'function' &&
    typeof Command.prototype.toWritable === 'function' &&
    typeof redis.sendCommand === 'function' &&
    !(redis as { isCluster?: boolean }).isCluster &&
    !options.keyPrefix &&
    options.commandTimeout === undefined &&
    // A command ioredis holds for later is written then to the stream it came with: a batch's
    // sink, long written out, would swallow it and its reply would answer the next command.
    options.enableOfflineQueue === false
  )
}

/** The sender for `redis`: one write through sendCommand when allowed and directBatches agrees, else its pipeline. */
export function batchSender(redis: Redis, allow = true): BatchSender {
  if (!allow || !directBatches(redis)) return (commands) => viaPipeline(redis, commands)
  return (commands) => sendDirect(redis, commands)
}

async function viaPipeline(redis: Redis, commands: BatchCommand[]): Promise<BatchReply[]> {
  const replies = await redis.pipeline(commands).exec()
  if (!replies) throw new Error('pipeline aborted')
  return replies
}

/** A command whose wire form was encoded by the batch. */
class Encoded extends Command {
  readonly #wire: string
  constructor(name: string, wire: string) {
    super(name)
    this.#wire = wire
  }
  override toWritable(): string {
    return this.#wire
  }
}

function sendDirect(redis: Redis, commands: BatchCommand[]): Promise<BatchReply[]> {
  return new Promise((resolve) => {
    const n = commands.length
    const replies = new Array<BatchReply>(n)
    let left = n
    let data = ''
    // Every command of a batch is settled exactly once (its reply, a refusal by sendCommand, or
    // the connection's flush on close), so the batch resolves once all are in, like a pipeline.
    const settle = (i: number, reply: BatchReply) => {
      if (replies[i]) return
      replies[i] = reply
      if (--left === 0) resolve(replies)
    }
    const sink = {
      isPipeline: true as const,
      destination: { redis },
      write(chunk: string | Buffer) {
        data += chunk
      },
    }
    for (let i = 0; i < n; i++) {
      const c = commands[i]!
      const command = new Encoded(c[0], encode(c))
      command.resolve = (value: unknown) => {
        command.isResolved = command.isSettled = true
        settle(i, [null, asStrings(value)])
      }
      command.reject = (err: Error) => {
        command.isSettled = true
        settle(i, [err, undefined])
      }
      redis.sendCommand(command, sink as never)
    }
    // What sendCommand refused (not ready, not writable) was rejected and never reached the sink.
    if (data) redis.stream.write(data)
  })
}

/** RESP2's form of one command: an array of bulk strings. */
function encode(c: BatchCommand): string {
  let out = `*${c.length}\r\n`
  for (const a of c) {
    const s = typeof a === 'string' ? a : String(a)
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`
  }
  return out
}

/** Replies as the pipeline gives them (utf8 strings), errors and numbers as they are. */
function asStrings(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString()
  if (Array.isArray(value)) return value.map(asStrings)
  return value
}
