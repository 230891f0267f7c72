/** A parent flow with a bridged child: the child's items show up in the parent stream as `source: 'nested-child'`. */
import { z } from 'zod'
import { TriggerFlow } from '../triggerflow/flow.ts'

const childStream = z.object({ stage: z.literal('child'), step: z.number().int(), of: z.number().int() })

const parentStream = z.union([
  z.object({ stage: z.literal('parent'), message: z.string() }),
  // Bridged child items are the child's own, checked by the child's contract.
  childStream,
])

/** Builds the child: `steps` items, then it stops its own stream (which must not end the parent's). */
export function nestedChildFlow() {
  const flow = new TriggerFlow({
    name: 'nested-child',
    contract: {
      input: z.object({ steps: z.number().int().min(1).max(100) }),
      stream: childStream,
      result: z.object({ childSteps: z.number().int() }),
    },
  })
  const work = flow.chunk('child_steps', async (data) => {
    for (let step = 1; step <= data.input.steps; step++) {
      await data.putIntoStream({ stage: 'child', step, of: data.input.steps })
    }
    await data.stopStream()
    return { childSteps: data.input.steps }
  })
  flow.to(work).end()
  return flow
}

/** Builds the `nested` flow. */
export function nestedFlow() {
  const flow = new TriggerFlow({
    name: 'nested',
    description: 'A parent flow whose child flow streams into the same stream.',
    exampleInput: { steps: 3 },
    contract: {
      input: z.object({ steps: z.number().int().min(1).max(100).default(3) }).default({ steps: 3 }),
      stream: parentStream,
      result: z.object({ child: z.object({ childSteps: z.number().int() }), message: z.string() }),
    },
  })
  const before = flow.chunk('parent_before', async (data) => {
    await data.putIntoStream({ stage: 'parent', message: `starting a child with ${data.input.steps} steps` })
    return { steps: data.input.steps }
  })
  const after = flow.chunk<{ childSteps: number }>('parent_after', async (data) => {
    const message = `child finished after ${data.value.childSteps} steps`
    await data.putIntoStream({ stage: 'parent', message })
    return { child: data.value, message }
  })
  flow.to(before).to(nestedChildFlow()).to(after).end()
  return flow
}
