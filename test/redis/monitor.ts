/**
 * MONITOR on a plain socket, for tests that count what a node sends to Redis. ioredis's own
 * `monitor()` turns its status to "monitoring" a promise turn after MONITOR's +OK, so the first
 * monitor lines that arrive in the same read as that OK (a busy shared Redis, a loaded machine)
 * meet an empty command queue: it emits "Command queue state error" and drops them.
 */
import net from 'node:net'

/** One command Redis ran: its arguments (the name first) and the client's address. */
export interface MonitoredCommand {
  args: string[]
  source: string
}

/** A MONITOR connection: every command Redis runs after its +OK goes to the listener, in order. */
export interface RedisMonitor {
  close(): void
}

const ESCAPES: Record<string, string> = {
  n: '\n',
  r: '\r',
  t: '\t',
  a: '\x07',
  b: '\b',
  '"': '"',
  '\\': '\\',
}

/** Parses one monitor line: `+<time> [<db> <source>] "arg" "arg" ...` (args escaped as Redis's sdscatrepr does). */
export function parseMonitorLine(line: string): MonitoredCommand | undefined {
  const open = line.indexOf('[')
  const close = line.indexOf(']', open)
  if (!line.startsWith('+') || open < 0 || close < 0) return undefined
  const source = line.slice(open + 1, close).split(' ')[1] ?? ''
  const args: string[] = []
  let i = close + 1
  while (i < line.length) {
    const start = line.indexOf('"', i)
    if (start < 0) break
    let arg = ''
    let j = start + 1
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] !== '\\') {
        arg += line[j]
        continue
      }
      const e = line[++j]!
      if (e === 'x') {
        arg += String.fromCharCode(Number.parseInt(line.slice(j + 1, j + 3), 16))
        j += 2
      } else arg += ESCAPES[e] ?? e
    }
    args.push(arg)
    i = j + 1
  }
  return { args, source }
}

/** Opens a MONITOR connection; resolves once Redis has answered +OK (every command after it is heard). */
export function monitorRedis(
  url: string,
  listener: (command: MonitoredCommand) => void,
): Promise<RedisMonitor> {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port || 6379), hostname || '127.0.0.1')
  let buffered = ''
  let ready = false
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    socket.on('connect', () => socket.write('MONITOR\r\n'))
    // Redis escapes every byte outside printable ASCII as \xHH, so a line is ASCII.
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      buffered += chunk
      let from = 0
      for (let end = buffered.indexOf('\r\n'); end >= 0; end = buffered.indexOf('\r\n', from)) {
        const line = buffered.slice(from, end)
        from = end + 2
        if (ready) {
          const command = parseMonitorLine(line)
          if (command) listener(command)
        } else if (line === '+OK') {
          ready = true
          // Closing is the test's teardown; a reset then is expected, not a failure.
          socket.off('error', reject)
          socket.on('error', () => {})
          resolve({ close: () => socket.destroy() })
        } else {
          socket.destroy()
          reject(new Error(`MONITOR answered ${line}`))
          return
        }
      }
      buffered = buffered.slice(from)
    })
  })
}
