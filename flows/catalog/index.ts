/** The flows the server ships. */
import type { TriggerFlow } from '../triggerflow/flow.ts'
import { approvalFlow } from './approval.ts'
import { instantFlow } from './instant.ts'
import { longJobFlow } from './long-job.ts'
import { type ModelEndpoint, type ModelOutlineOptions, modelOutlineFlow } from './model-outline.ts'
import { nestedFlow } from './nested.ts'
import { streamStepsFlow } from './stream-steps.ts'

/** What the catalog is built with. */
export interface CatalogOptions {
  /** The model `model-outline` calls; absent or null: the simulated model. */
  model?: ModelEndpoint | null
}

/** A fresh instance of every catalog flow (fresh so that servers in one process share nothing). */
export function catalogFlows(options: CatalogOptions = {}): TriggerFlow<any>[] {
  return [
    streamStepsFlow(),
    nestedFlow(),
    instantFlow(),
    longJobFlow(),
    approvalFlow(),
    modelOutlineFlow({ model: options.model ?? null }),
  ]
}

export {
  approvalFlow,
  instantFlow,
  longJobFlow,
  type ModelEndpoint,
  type ModelOutlineOptions,
  modelOutlineFlow,
  nestedFlow,
  streamStepsFlow,
}
