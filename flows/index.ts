/** The public face of the flowcast engine: a TypeScript port of TriggerFlow's runtime parts. */
export { FlowcastError, type FlowcastErrorCode, isFlowcastError } from '@flowcast/protocol'
export type { FlowContract, FlowTypeInfo, InputOf, ResultOf, StreamOf } from './triggerflow/contract.ts'
export {
  DEFAULT_STREAM_TIMEOUT_MS,
  Execution,
  type ExecutionOptions,
  type ExecutionStatus,
  type InterruptInfo,
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
export { RetainedWindow, type RetentionBounds } from './triggerflow/retained-window.ts'
export { type PauseOptions, RuntimeData } from './triggerflow/runtime-data.ts'
export { StateStore } from './triggerflow/state.ts'
export {
  DEFAULT_RETENTION,
  type LogEntry,
  RuntimeStreamLog,
  type StreamCloseInfo,
  type StreamCloseReason,
  type StreamEnvelope,
  type StreamGap,
  type StreamRetention,
} from './triggerflow/stream-log.ts'
