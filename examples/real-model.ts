/**
 * A flow with a real model (README "A flow with a real model"): an OpenAI-compatible server's
 * answer streamed into the runtime stream as instant nodes, one `point` event per whole point.
 * `MODEL_BASE_URL=http://127.0.0.1:11434/v1 MODEL=llama3.2 flowcast serve examples/real-model.ts`
 * (those are the defaults: Ollama's), then start `ask` with a topic as its input.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible'
import { ANY, type InstantNode, instantNodeItem, matchPath, TriggerFlow } from '@flowcast/flows'
import { streamObjectNodes } from '@flowcast/flows/ai'
import { z } from 'zod'

const answer = z.object({ title: z.string(), points: z.array(z.string()) })
const llm = createOpenAICompatible({
  name: 'llm',
  baseURL: process.env.MODEL_BASE_URL ?? 'http://127.0.0.1:11434/v1',
  // Token usage in the stream: the provider sends stream_options.include_usage only when told.
  includeUsage: true,
})
export const ask = new TriggerFlow({ name: 'ask', contract: { input: z.string(), stream: instantNodeItem } })
const think = ask.chunk('think', async (data) => {
  const call = {
    model: llm(process.env.MODEL ?? 'llama3.2'),
    schema: answer,
    prompt: `Explain ${data.input}`,
  }
  const eventOf = (node: InstantNode) => (matchPath(node.path, ['points', ANY]) ? 'point' : undefined)
  const run = await streamObjectNodes(data, call, { eventOf, retry: { attempts: 3 } })
  return { ...run.value, finishReason: run.finishReason, usage: run.usage }
})
ask.to(think).end()
ask.when('point').to(async (data) => console.log('point:', (data.value as InstantNode).value))
