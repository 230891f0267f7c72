/**
 * The servers measured side by side. A target is a server process file under bench/servers that
 * calls host() from servers/host.ts, plus the client adapter that speaks its wire protocol. A
 * target whose file does not exist yet is shown as n/a, which is how flowcast appears until
 * bench/servers/flowcast.ts is written.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { AdapterName } from './protocol.ts'

export type TargetName = 'flowcast' | 'ws' | 'ws-batch' | 'socket.io'

export interface Target {
  name: TargetName
  /** Path of the server process file. */
  server: string
  adapter: AdapterName
}

const serverFile = (file: string) => fileURLToPath(new URL(`./servers/${file}`, import.meta.url))

export const TARGETS: readonly Target[] = [
  { name: 'flowcast', server: serverFile('flowcast.ts'), adapter: 'flowcast' },
  { name: 'ws', server: serverFile('raw-ws.ts'), adapter: 'ws' },
  { name: 'ws-batch', server: serverFile('raw-ws-batch.ts'), adapter: 'ws' },
  { name: 'socket.io', server: serverFile('socketio.ts'), adapter: 'socket.io' },
]

export function available(target: Target): boolean {
  return existsSync(target.server)
}
