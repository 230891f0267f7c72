/**
 * A room opening while its subscribers come and go: a subscribe never fails with "room is
 * disposed", whether one socket subscribes, unsubscribes and subscribes back to back (React
 * StrictMode) or two sockets race on a slow follow(); and a room nobody ends up in is dropped.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Follower } from '../../server/brokers/broker.ts'
import { type FlowcastServer, MemoryBroker, startServer } from '../../server/index.ts'
import { metric } from '../helpers/metrics.ts'
import { eventually } from '../helpers/poll.ts'
import { range, TestSocket } from '../helpers/ws-client.ts'
import { Gate, serve, start, testFlows } from './fixtures.ts'

const sockets: TestSocket[] = []
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A memory broker whose follow() waits for the test (a remote store that answers slowly). */
class SlowFollowBroker extends MemoryBroker {
  gate = new Gate()
  follows = 0
  override async follow(executionId: string): Promise<Follower | undefined> {
    this.follows++
    await this.gate.promise
    return super.follow(executionId)
  }
}

async function slowServer(gate: Gate): Promise<{ server: FlowcastServer; broker: SlowFollowBroker }> {
  const broker = new SlowFollowBroker()
  const server = await startServer({ auth: 'off', broker, flows: testFlows(gate) })
  cleanups.push(async () => {
    await server.close()
    await broker.close()
  })
  return { server, broker }
}

describe('room open / release race', () => {
  it('subscribe, unsubscribe, subscribe back to back on one socket: the second subscribe gets every event', async () => {
    const gate = new Gate()
    const server = await serve({ gate })
    const { executionId } = await start(server, 'gated', { before: 3, after: 4 })
    const s = await TestSocket.open(server.url)
    sockets.push(s)
    s.send({ type: 'subscribe', id: 1, executionId })
    s.send({ type: 'unsubscribe', id: 2, executionId })
    s.send({ type: 'subscribe', id: 3, executionId })
    expect(await s.next((f) => f.id === 3)).toMatchObject({ type: 'subscribed', executionId })
    expect(await s.next((f) => f.id === 2)).toMatchObject({ type: 'ack', unsubscribed: true })
    // Every request gets exactly one reply: the overtaken subscribe is acked as cancelled.
    expect(await s.next((f) => f.id === 1)).toMatchObject({ type: 'ack', executionId, cancelled: true })
    gate.open()
    await s.streamEnd(executionId)
    expect(s.seqs(executionId)).toEqual(range(1, 7))
    expect(s.ofType('error')).toEqual([])
    expect(s.frames.filter((f) => f.id === 1)).toHaveLength(1)
  })

  it('two sockets on a slow follow(): the first leaves before the room opens, the second gets every event', async () => {
    const gate = new Gate()
    const { server, broker } = await slowServer(gate)
    const { executionId } = await start(server, 'gated', { before: 3, after: 4 })
    const a = await TestSocket.open(server.url)
    const b = await TestSocket.open(server.url)
    sockets.push(a, b)
    a.send({ type: 'subscribe', id: 1, executionId })
    await eventually(async () => broker.follows === 1, 2000, 'the room to start opening')
    const subscribeId = b.id()
    b.send({ type: 'subscribe', id: subscribeId, executionId })
    // A socket's frames are run in order, and a subscribe enters the opening room before its first
    // await: b's pong says it has, whatever order the two sockets' frames reached the server in.
    expect(await b.request({ type: 'ping' })).toMatchObject({ type: 'pong' })
    expect(await a.request({ type: 'unsubscribe', executionId })).toMatchObject({ type: 'ack' })
    broker.gate.open()
    expect(await b.next((f) => f.id === subscribeId)).toMatchObject({ type: 'subscribed', executionId })
    gate.open()
    await b.streamEnd(executionId)
    expect(b.seqs(executionId)).toEqual(range(1, 7))
    expect(b.ofType('error')).toEqual([])
    expect(broker.follows).toBe(1) // one room, one follower
  })

  it('two sockets on a slow follow(): the first closes before the room opens, the second gets every event', async () => {
    const gate = new Gate()
    const { server, broker } = await slowServer(gate)
    const { executionId } = await start(server, 'gated', { before: 2, after: 2 })
    const a = await TestSocket.open(server.url)
    const b = await TestSocket.open(server.url)
    sockets.push(b)
    a.send({ type: 'subscribe', id: 1, executionId })
    b.send({ type: 'subscribe', id: 1, executionId })
    await eventually(async () => broker.follows === 1, 2000, 'the room to start opening')
    await a.close()
    await eventually(async () => (await metric(server.url, 'flowcast_connections')) === 1, 2000, 'a gone')
    broker.gate.open()
    expect(await b.next((f) => f.id === 1)).toMatchObject({ type: 'subscribed', executionId })
    gate.open()
    await b.streamEnd(executionId)
    expect(b.seqs(executionId)).toEqual(range(1, 4))
    expect(b.ofType('error')).toEqual([])
  })

  it('a room whose only subscriber left while it opened is dropped once open', async () => {
    const gate = new Gate()
    const { server, broker } = await slowServer(gate)
    const { executionId } = await start(server, 'gated', { before: 1 })
    const a = await TestSocket.open(server.url)
    sockets.push(a)
    a.send({ type: 'subscribe', id: 1, executionId })
    await eventually(async () => broker.follows === 1, 2000, 'the room to start opening')
    expect(await a.request({ type: 'unsubscribe', executionId })).toMatchObject({ type: 'ack' })
    broker.gate.open()
    await eventually(async () => (await metric(server.url, 'flowcast_rooms')) === 0, 2000, 'no room left')
    expect(await metric(server.url, 'flowcast_subscribers')).toBe(0)
    gate.open()
  })
})
