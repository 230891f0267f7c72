/** The flows the server ships. */
import type { TriggerFlow } from '../triggerflow/flow.ts'
import { streamStepsFlow } from './stream-steps.ts'

/** A fresh instance of every catalog flow (fresh so that servers in one process share nothing). */
export function catalogFlows(): TriggerFlow<any>[] {
  return [streamStepsFlow()]
}
