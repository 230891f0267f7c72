/**
 * "Add your own flow" (README): starts `word-count` of examples/my-flows.ts and watches it from
 * Node with the SDK, typed by the flow's contract. With the server of that section running:
 * `FLOWCAST_API_KEY=dev-key npx tsx examples/watch-my-flow.ts` (FLOWCAST_URL names another node).
 * test/cli/readme-example.test.ts runs this file against `flowcast serve examples/my-flows.ts`.
 */
import { createClient } from '@flowcast/client'
import WebSocket from 'ws' // Node 20 has no global WebSocket; a browser passes none
import type { wordCount } from './my-flows.ts'

const client = createClient({
  url: process.env.FLOWCAST_URL ?? 'http://127.0.0.1:8787',
  apiKey: process.env.FLOWCAST_API_KEY,
  WebSocket,
})
const { executionId } = await client.start<typeof wordCount>('word-count', {
  text: 'to be or not',
  delayMs: 0,
})
for await (const event of client.stream<typeof wordCount>(executionId)) console.log(event.data.word)
// { status: 'completed', result: { words: 4, longest: 'not' } }
console.log(JSON.stringify(await client.result<typeof wordCount>(executionId, { wait: 5_000 })))
client.close()
