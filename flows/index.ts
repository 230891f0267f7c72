/** The public face of the flowcast engine: a TypeScript port of TriggerFlow's runtime parts. */
export { FlowcastError, type FlowcastErrorCode, isFlowcastError } from '@flowcast/protocol'
export type { FlowContract, FlowTypeInfo, InputOf, ResultOf, StreamOf } from './triggerflow/contract.ts'
export {
  DEFAULT_STREAM_TIMEOUT_MS,
  Execution,
  type ExecutionOptions,
  type ExecutionStatus,
  isTerminal,
  type StreamReadOptions,
} from './triggerflow/execution.ts'
export {
  type FlowTypes,
  TriggerFlow,
  type TriggerFlowOptions,
  type WhenMode,
  type WhenTrigger,
} from './triggerflow/flow.ts'
export type { InterruptInfo, PauseOptions } from './triggerflow/interrupt.ts'
export {
  CaseChain,
  type Chunk,
  type ChunkHandler,
  type CollectMode,
  ForEachChain,
  MatchBlock,
  type MatchMode,
  Process,
  type SubFlowOptions,
  type Target,
} from './triggerflow/process.ts'
export { RetainedWindow } from './triggerflow/retained-window.ts'
export { DEFAULT_RETENTION, type Retention } from './triggerflow/retention.ts'
export { RuntimeData } from './triggerflow/runtime-data.ts'
export { StateStore } from './triggerflow/state.ts'
export {
  type LogEntry,
  RuntimeStreamLog,
  type StreamClose,
  type StreamEnvelope,
  type StreamGap,
} from './triggerflow/stream-log.ts'
