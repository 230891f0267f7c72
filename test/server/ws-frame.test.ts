import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { OutFrame } from '../../server/fanout/frame.ts'
import { sendFrame, sendText, textFrame, wsBytes } from '../../server/ws/framing.ts'
import { until, waitFor } from '../helpers/wait.ts'

const servers: WebSocketServer[] = []
const clients: WebSocket[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate()
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))))
})

/** A server socket and a client connected to it, permessage-deflate off as in the hub. */
async function pair(): Promise<{
  server: WebSocket
  client: WebSocket
  received: { text: string; binary: boolean }[]
}> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
  servers.push(wss)
  await new Promise<void>((r) => wss.once('listening', () => r()))
  const serverSide = new Promise<WebSocket>((r) => wss.once('connection', r))
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, {
    perMessageDeflate: false,
  })
  clients.push(client)
  const received: { text: string; binary: boolean }[] = []
  client.on('message', (data, isBinary) => received.push({ text: data.toString(), binary: isBinary }))
  await waitFor(new Promise((r) => client.once('open', r)), 5000, 'client open')
  return { server: await waitFor(serverSide, 5000, 'server connection'), client, received }
}

describe('pre-framed WebSocket sends', () => {
  it('frames once with the right header for the three length encodings', () => {
    for (const size of [7, 200, 70_000]) {
      const payload = Buffer.from('x'.repeat(size))
      const list = textFrame(payload)
      expect(list).toHaveLength(1)
      const frame = list[0]!
      expect(frame[0]).toBe(0x81) // FIN + text
      const header = size <= 125 ? 2 : size < 65_536 ? 4 : 10
      expect(frame[1]).toBe(size <= 125 ? size : size < 65_536 ? 126 : 127)
      expect(frame.length).toBe(header + size)
      expect(frame.subarray(header).equals(payload)).toBe(true)
    }
  })

  it('delivers the same bytes as text, in order with ws.send, through both paths', async () => {
    const { server, received } = await pair()
    const msgs = Array.from({ length: 6 }, (_, i) => JSON.stringify({ seq: i + 1, pad: 'y'.repeat(i * 60) }))
    sendText(server, Buffer.from(msgs[0]!), textFrame(Buffer.from(msgs[0]!)))
    server.send(msgs[1]!)
    sendText(server, Buffer.from(msgs[2]!), undefined)
    const shared = textFrame(Buffer.from(msgs[3]!))
    sendText(server, Buffer.from(msgs[3]!), shared)
    sendText(server, Buffer.from(msgs[4]!), textFrame(Buffer.from(msgs[4]!)))
    server.send(msgs[5]!)
    await until(() => received.length === 6, 5000, 'six messages')
    expect(received).toEqual(msgs.map((text) => ({ text, binary: false })))
  })

  it('encodes a room frame straight behind its header, multi-byte text at every length encoding', async () => {
    const { server, received } = await pair()
    // 'é' is 2 UTF-8 bytes and '€' 3: the header must carry bytes, not UTF-16 units.
    const texts = [3, 60, 30_000].map((n) => JSON.stringify({ type: 'event', p: 'é€x'.repeat(n) }))
    for (const text of texts) {
      const frame = new OutFrame(text, 'event')
      const bytes = wsBytes(frame)
      const payload = Buffer.from(text, 'utf8')
      const header = payload.length < 126 ? 2 : payload.length < 65_536 ? 4 : 10
      expect(bytes.framed).toHaveLength(1)
      expect(bytes.framed[0]!.length).toBe(header + payload.length)
      expect(bytes.framed[0]!.equals(textFrame(payload)[0]!)).toBe(true)
      expect(bytes.payload.equals(payload)).toBe(true)
      sendFrame(server, frame)
    }
    await until(() => received.length === texts.length, 5000, 'three messages')
    expect(received).toEqual(texts.map((text) => ({ text, binary: false })))
  })

  it('writes one shared frame list to many sockets', async () => {
    const pairs = await Promise.all([pair(), pair(), pair()])
    const payload = Buffer.from('{"type":"event","seq":1}')
    const shared = textFrame(payload)
    for (const p of pairs) sendText(p.server, payload, shared)
    for (const p of pairs) await until(() => p.received.length === 1, 5000, 'one message')
    for (const p of pairs) expect(p.received).toEqual([{ text: payload.toString(), binary: false }])
  })
})
