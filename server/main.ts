/**
 * `npm start`: the embedded server (memory broker, catalog flows) on $PORT (default 8787) and
 * $HOST (default 127.0.0.1). With $REDIS_URL (and $FLOWCAST_KEY_PREFIX, $FLOWCAST_LEASE_MS), the
 * Redis broker.
 * SIGTERM and SIGINT close it gracefully.
 *
 * $FLOWCAST_EXTRA_FLOWS: path of a module whose `flows` export (an array of TriggerFlows) is served
 * beside the catalog; the Redis tests use it to give spawned nodes test-only flows.
 *
 * Auth is on: $FLOWCAST_API_KEY and $FLOWCAST_SECRET, each generated when unset (the generated API
 * key is printed once; the secret never is, so tokens die with the process). FLOWCAST_AUTH=off
 * opens the server to everyone, for local work.
 */
import { pathToFileURL } from 'node:url'
import type { TriggerFlow } from '@flowcast/flows'
import { catalogFlows } from '@flowcast/flows/catalog'
import { randomKey, startServer } from './index.ts'

const port = process.env.PORT === undefined || process.env.PORT === '' ? 8787 : Number(process.env.PORT)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid PORT: ${process.env.PORT}`)
  process.exit(2)
}
const auth =
  process.env.FLOWCAST_AUTH === 'off'
    ? ('off' as const)
    : {
        apiKey: process.env.FLOWCAST_API_KEY || randomKey(24),
        secret: process.env.FLOWCAST_SECRET || randomKey(32),
      }
const extraFlows: TriggerFlow<any>[] = process.env.FLOWCAST_EXTRA_FLOWS
  ? (await import(pathToFileURL(process.env.FLOWCAST_EXTRA_FLOWS).href)).flows
  : []
const server = await startServer({
  port,
  host: process.env.HOST || '127.0.0.1',
  auth,
  ...(extraFlows.length > 0 ? { flows: [...catalogFlows(), ...extraFlows] } : {}),
  // Several nodes on one Redis serve the same executions; without REDIS_URL, the memory broker.
  ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
  ...(process.env.FLOWCAST_KEY_PREFIX ? { keyPrefix: process.env.FLOWCAST_KEY_PREFIX } : {}),
  // How soon the other nodes end this node's executions if it dies without a word (Redis only).
  ...(process.env.FLOWCAST_LEASE_MS
    ? { limits: { nodeLeaseMs: Number(process.env.FLOWCAST_LEASE_MS) } }
    : {}),
})
console.log(`flowcast listening on ${server.url}`)
if (auth === 'off') console.log('flowcast: auth is OFF (FLOWCAST_AUTH=off): every client may do everything')
else if (!process.env.FLOWCAST_API_KEY)
  console.log(`flowcast: API key (generated; set FLOWCAST_API_KEY to keep one): ${auth.apiKey}`)

let stopping = false
const stop = (signal: string) => {
  if (stopping) return
  stopping = true
  console.log(`flowcast: ${signal}, closing`)
  // A close that hangs must not keep a terminated process alive.
  setTimeout(() => process.exit(1), 10_000).unref()
  server.close().then(
    () => process.exit(0),
    (err) => {
      console.error('flowcast: close failed', err)
      process.exit(1)
    },
  )
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
