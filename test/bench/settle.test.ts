/**
 * The bench's settle step (issue 18): a flowcast subscriber counts as settled for a room of N
 * only once the server's presence frame counting N members has reached it, so the measured phase
 * starts after the join-time presence frames, not while they are still going out.
 */
import { describe, expect, it } from 'vitest'
import { adapters, type Subscription } from '../../bench/adapters.ts'
import { waitFor } from '../helpers/wait.ts'
import { Gate, serve, start } from '../server/fixtures.ts'

describe('bench settle', () => {
  it('flowcast: settled(n) resolves on the presence frame counting n members, not before', async () => {
    const gate = new Gate()
    const server = await serve({ gate })
    const { executionId } = await start(server, 'gated', {})
    const subs: Subscription[] = []
    const open = () =>
      adapters.flowcast({
        url: `${server.url.replace(/^http/, 'ws')}/ws`,
        room: executionId,
        timeoutMs: 5000,
        sink: () => {},
        onDrop: () => {},
      })
    try {
      for (let i = 0; i < 3; i++) subs.push(await open())
      // No presence can count a 4th member yet: the one for 3 must win the race on the same socket.
      const four = subs[0]!.settled(4).then(() => 4)
      expect(await waitFor(Promise.race([four, subs[0]!.settled(3).then(() => 3)]), 5000, 'presence 3')).toBe(
        3,
      )
      await waitFor(Promise.all(subs.map((s) => s.settled(3))), 5000, 'presence 3 everywhere')
      subs.push(await open())
      await waitFor(Promise.all([four, ...subs.map((s) => s.settled(4))]), 5000, 'presence 4 everywhere')
    } finally {
      for (const s of subs) s.close()
      gate.open()
    }
  })

  it('ws: settles at once (its server does nothing after a join)', async () => {
    const { WebSocketServer } = await import('ws')
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    wss.on('connection', (ws) =>
      ws.once('message', () => ws.send(JSON.stringify({ type: 'subscribed', id: 1 }))),
    )
    await new Promise<void>((r) => wss.once('listening', () => r()))
    const { port } = wss.address() as { port: number }
    const sub = await adapters.ws({
      url: `ws://127.0.0.1:${port}/`,
      room: 'r0',
      timeoutMs: 5000,
      sink: () => {},
      onDrop: () => {},
    })
    try {
      await waitFor(sub.settled(10), 1000, 'ws settled')
    } finally {
      sub.close()
      await new Promise<void>((r) => wss.close(() => r()))
    }
  })
})
