/** The flows the server ships. */
import type { TriggerFlow } from '../triggerflow/flow.ts'
import { approvalFlow } from './approval.ts'
import { instantFlow } from './instant.ts'
import { longJobFlow } from './long-job.ts'
import {
  type ModelEndpoint,
  type ModelOutlineOptions,
  modelEndpointFromEnv,
  modelOutlineFlow,
} from './model-outline.ts'
import { nestedFlow } from './nested.ts'
import { streamStepsFlow } from './stream-steps.ts'

/** A fresh instance of every catalog flow (fresh so that servers in one process share nothing). */
export function catalogFlows(): TriggerFlow<any>[] {
  return [streamStepsFlow(), nestedFlow(), instantFlow(), longJobFlow(), approvalFlow(), modelOutlineFlow()]
}

export {
  approvalFlow,
  instantFlow,
  longJobFlow,
  type ModelEndpoint,
  type ModelOutlineOptions,
  modelEndpointFromEnv,
  modelOutlineFlow,
  nestedFlow,
  streamStepsFlow,
}
