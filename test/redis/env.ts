/**
 * Shared pieces of the Redis tests: whether a Redis answers (skip with one line, or fail under
 * FLOWCAST_REQUIRE_REDIS=1), per-test key prefixes and their cleanup, nodes as child processes,
 * a private redis-server, and an SDK client over `ws`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { nanoid } from 'nanoid'
import { afterEach, beforeEach, describe, it } from 'vitest'
import WebSocket from 'ws'
import { type ClientOptions, createClient, type FlowcastClient } from '../../client-sdk/index.ts'
import { freePort } from '../helpers/net.ts'
import { waitFor } from '../helpers/wait.ts'

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
export const REQUIRED = process.env.FLOWCAST_REQUIRE_REDIS === '1'

/** PING with a bound; the reason when nothing answers. */
export async function ping(url: string, timeoutMs = 1500): Promise<string | undefined> {
  const r = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  r.on('error', () => undefined)
  try {
    await r.connect()
    await r.ping()
    return undefined
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  } finally {
    r.disconnect()
  }
}

const unreachable = await ping(REDIS_URL)

/** A describe that runs with Redis, fails without it under FLOWCAST_REQUIRE_REDIS=1, else skips with one line. */
export function describeRedis(name: string, body: () => void): void {
  if (!unreachable) {
    describe(name, body)
  } else if (REQUIRED) {
    describe(name, () => {
      it('needs a Redis', () => {
        throw new Error(`FLOWCAST_REQUIRE_REDIS=1 but no Redis answers at ${REDIS_URL}: ${unreachable}`)
      })
    })
  } else {
    console.log(
      `[redis] skipped "${name}": no Redis at ${REDIS_URL} (${unreachable}); set REDIS_URL to run it`,
    )
    describe.skip(name, body)
  }
}

/** A fresh key prefix for one test. */
export function newPrefix(): string {
  return `fctest:${nanoid(8)}:`
}

/** Deletes every key under `prefix`. */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true })
  r.on('error', () => undefined)
  try {
    await r.connect()
    let cursor = '0'
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      cursor = next
      if (keys.length > 0) await r.del(...keys)
    } while (cursor !== '0')
  } catch {
    // Redis gone (the restart test stops its own): nothing left to clean there.
  } finally {
    r.disconnect()
  }
}

/** Keys under `prefix` right now. */
export async function keysUnder(url: string, prefix: string): Promise<string[]> {
  const r = new Redis(url, { maxRetriesPerRequest: 0 })
  try {
    return (await r.keys(`${prefix}*`)).sort()
  } finally {
    r.disconnect()
  }
}

/** A server node in its own process. */
export interface NodeProcess {
  readonly url: string
  readonly child: ChildProcess
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>
}

/**
 * Spawns `server/main.ts` with PORT=0 and the given Redis and prefix; resolves with its URL.
 * Node itself with tsx's loader, not `npx tsx`: one process, so kill -9 kills the server itself.
 */
export async function spawnNode(env: {
  REDIS_URL: string
  FLOWCAST_KEY_PREFIX: string
  FLOWCAST_API_KEY: string
  FLOWCAST_SECRET: string
  FLOWCAST_LEASE_MS?: string
  [name: `FLOWCAST_${string}`]: string | undefined
}): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    env: { ...process.env, ...env, PORT: '0', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let out = ''
  const listening = waitFor(
    new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        out += chunk.toString()
        const m = /listening on (http:\/\/[^\s"]+)/.exec(out) ?? /"url":"(http:\/\/[^"]+)"/.exec(out)
        if (m) resolve(m[1]!)
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', (c: Buffer) => {
        out += c.toString()
      })
      child.once('exit', (code) => reject(new Error(`node exited (${code}) before listening:\n${out}`)))
    }),
    20_000,
    'a node to listen',
  )
  let url: string
  try {
    url = await listening
  } catch (err) {
    // A node that never said where it listens must not outlive the test run.
    await stopNode({ url: '', child, exited })
    throw err
  }
  return { url, child, exited }
}

/** Spawns `n` nodes at once; when any fails to start, stops the ones that did and throws. */
export async function spawnNodes(n: number, env: Parameters<typeof spawnNode>[0]): Promise<NodeProcess[]> {
  const settled = await Promise.allSettled(Array.from({ length: n }, () => spawnNode(env)))
  const started = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) {
    await Promise.all(started.map(stopNode))
    throw failed.reason
  }
  return started
}

/** SIGTERM, then SIGKILL after a bound; resolves once the process is gone. */
export async function stopNode(node: NodeProcess): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return
  node.child.kill('SIGTERM')
  const timer = setTimeout(() => node.child.kill('SIGKILL'), 5000)
  await node.exited
  clearTimeout(timer)
}

/** A redis-server of the test's own, on a free port, without persistence. */
export interface OwnRedis {
  readonly port: number
  readonly url: string
  stop(): Promise<void>
  start(): Promise<void>
}

/**
 * Starts a private redis-server; `stop()`/`start()` take it down and bring it back on the same port.
 * With `password` it requires one (the URL carries it); with `started: false` it is only given a
 * port, for a test that starts a node before its Redis.
 */
export async function ownRedis(
  options: { password?: string; started?: boolean; persist?: boolean } = {},
): Promise<OwnRedis> {
  const port = await freePort()
  // With `persist`, an append-only file fsynced on every write, in a directory of its own: a
  // restart (even after SIGKILL) comes back with every write Redis acknowledged.
  const dir = options.persist ? mkdtempSync(join(tmpdir(), 'fc-redis-')) : undefined
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : ''
  const url = `redis://${auth}127.0.0.1:${port}`
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        ...(dir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir] : ['--appendonly', 'no']),
        '--daemonize',
        'no',
        ...(options.password ? ['--requirepass', options.password] : []),
      ],
      {
        stdio: 'ignore',
      },
    )
    const c = child
    exited = new Promise<void>((resolve) => c.once('exit', () => resolve()))
    const deadline = Date.now() + 5000
    while ((await ping(url, 300)) !== undefined) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await exited
  }
  if (options.started !== false) await start()
  return { port, url, start, stop }
}

/** True when a `redis-server` binary can be run. */
export async function hasRedisServer(): Promise<boolean> {
  return new Promise((resolve) => {
    const c = spawn('redis-server', ['--version'], { stdio: 'ignore' })
    c.once('error', () => resolve(false))
    c.once('exit', (code) => resolve(code === 0))
  })
}

/** An SDK client over `ws` with fast reconnects. */
export function sdkClient(urls: string[], extra: Partial<ClientOptions> = {}): FlowcastClient {
  return createClient({
    urls,
    WebSocket,
    reconnect: { baseMs: 10, maxMs: 100, minUptimeMs: 1000, connectTimeoutMs: 2000 },
    ...extra,
  })
}

/** Starts `flow` on the node at `url` over HTTP (with the API key when auth is on); returns its id and tokens. */
export async function startExecution(
  url: string,
  flow: string,
  input: unknown,
  apiKey?: string,
): Promise<{ executionId: string; tokens?: { viewer: string; admin: string } }> {
  const res = await fetch(`${url}/api/flows/${flow}/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({ input }),
  })
  if (res.status !== 201) throw new Error(`start on ${url}: ${res.status} ${await res.text()}`)
  return (await res.json()) as { executionId: string; tokens?: { viewer: string; admin: string } }
}

/** Starts `flow` on an open node; returns the execution id. */
export async function startOn(url: string, flow: string, input: unknown): Promise<string> {
  return (await startExecution(url, flow, input)).executionId
}

/** [from..to] */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k)
}

/** What `useCluster` gives a test: fresh credentials, a key prefix, the node processes and a Redis handle. */
export interface Cluster {
  readonly apiKey: string
  readonly secret: string
  prefix: string
  nodes: NodeProcess[]
  redis: Redis
  /** An SDK client on `urls` with `token`, closed after the test. */
  client(urls: string[], token: string): FlowcastClient
}

/**
 * `n` node processes on one Redis under a fresh prefix, one secret for all (so any node takes
 * any node's tokens): spawned before each test; stopped, with their keys dropped, after it.
 */
export function useCluster(n: number, extraEnv: Record<string, string> = {}): Cluster {
  const clients: FlowcastClient[] = []
  const cluster: Cluster = {
    apiKey: `key-${nanoid()}`,
    secret: `secret-${nanoid()}-${nanoid()}`,
    prefix: '',
    nodes: [],
    redis: undefined as unknown as Redis,
    client(urls, token) {
      const c = sdkClient(urls, { token })
      clients.push(c)
      return c
    },
  }
  beforeEach(async () => {
    cluster.prefix = newPrefix()
    cluster.nodes = await spawnNodes(n, {
      REDIS_URL,
      FLOWCAST_KEY_PREFIX: cluster.prefix,
      FLOWCAST_API_KEY: cluster.apiKey,
      FLOWCAST_SECRET: cluster.secret,
      ...extraEnv,
    })
    cluster.redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 0 })
  })
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close()
    await Promise.all(cluster.nodes.map(stopNode))
    cluster.nodes = []
    cluster.redis?.disconnect()
    await dropPrefix(REDIS_URL, cluster.prefix)
  })
  return cluster
}
