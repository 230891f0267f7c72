/**
 * "Add your own flow" (README): a complete flows module for `flowcast serve examples/my-flows.ts`.
 * Every TriggerFlow it exports is served; watch an execution from the page at `/` or the SDK.
 *
 * `word-count` streams one item per word of its input text (a few ms apart, so a watcher sees it
 * grow), then finishes with the count and the longest word. Its contract types the input, the
 * stream items and the result for the SDK, and the server checks the input against it (400
 * `invalid_input`).
 */
import { TriggerFlow } from '@flowcast/flows'
import { z } from 'zod'

/** Resolves after `ms`, or at once when the execution is cancelled. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

export const wordCount = new TriggerFlow({
  name: 'word-count',
  contract: {
    input: z.object({
      text: z.string().min(1).max(10_000),
      /** Milliseconds between two words; 0 streams them as fast as possible. */
      delayMs: z.number().int().min(0).max(5000).default(50),
    }),
    stream: z.object({ index: z.number().int(), word: z.string() }),
    result: z.object({ words: z.number().int(), longest: z.string() }),
  },
})

const count = wordCount.chunk('count', async (data) => {
  const words = data.input.text.split(/\s+/).filter((w) => w !== '')
  let longest = ''
  for (const [index, word] of words.entries()) {
    if (data.signal.aborted) break
    await data.putIntoStream({ index, word })
    if (word.length > longest.length) longest = word
    if (data.input.delayMs > 0) await pause(data.input.delayMs, data.signal)
  }
  return { words: words.length, longest }
})
wordCount.to(count).end()
