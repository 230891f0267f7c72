import { TriggerFlow } from '../flows/index.ts'

const flow = new TriggerFlow({ name: 'stream-steps' })
const streamSteps = flow.chunk('stream_steps', async (data) => {
  await data.putIntoStream({ step: 1 })
  await data.putIntoStream({ step: 2 })
  await data.stopStream()
  return 'done'
})
flow.to(streamSteps).end()
const execution = flow.createExecution({ autoCloseTimeout: 0 })
for await (const item of execution.getRuntimeStream('start', { timeout: null })) console.log(item)
console.log(await execution.getResult({ timeout: 5000 }))
console.log(execution.getStatus())
