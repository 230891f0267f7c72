/** The seed example: two steps into the runtime stream, stop the stream, return 'done'. */
import { TriggerFlow } from '../triggerflow/flow.ts'

/** Builds the `stream-steps` flow. */
export function streamStepsFlow(): TriggerFlow {
  const flow = new TriggerFlow({
    name: 'stream-steps',
    description: 'The seed example: two steps, then the flow stops its own stream.',
    exampleInput: {},
  })
  const streamSteps = flow.chunk('stream_steps', async (data) => {
    await data.putIntoStream({ step: 1 })
    await data.putIntoStream({ step: 2 })
    await data.stopStream()
    return 'done'
  })
  flow.to(streamSteps).end()
  return flow
}
