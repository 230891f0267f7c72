/** The public face of the flowcast engine: a TypeScript port of TriggerFlow 4.1's runtime parts. */
export { FlowcastError, type FlowcastErrorCode, isFlowcastError } from '@flowcast/protocol'
export { InstantJsonParser } from './instant/json-parser.ts'
export { type ModelErrorDetails, type ModelFailureKind, toModelError } from './instant/model-error.ts'
export {
  type ModelPart,
  type ModelRun,
  type ModelSink,
  type ModelStreamOptions,
  streamModelNodes,
  type TokenUsage,
} from './instant/model-stream.ts'
export {
  ANY,
  type InstantNode,
  type InstantNodeItem,
  instantNodeItem,
  matchPath,
  type NodePath,
} from './instant/node.ts'
export { DEFAULT_MAX_MODEL_CHARS, type InstantNodesOptions, instantNodes } from './instant/nodes.ts'
export { type NodeSink, type PutNodesOptions, putInstantNodes } from './instant/put-nodes.ts'
export type { RetryOptions } from './instant/retry.ts'
export type { Chunk, ChunkHandler } from './triggerflow/chunk.ts'
export type { FlowContract, FlowTypeInfo, InputOf, ResultOf, StreamOf } from './triggerflow/contract.ts'
export {
  type ChunkRun,
  type ChunkRunner,
  type CloseOptions,
  DEFAULT_AUTO_CLOSE_TIMEOUT_MS,
  DEFAULT_STREAM_TIMEOUT_MS,
  Execution,
  type ExecutionOptions,
  type ExecutionStatus,
  isTerminal,
  type Lifecycle,
  type StreamReadOptions,
} from './triggerflow/execution.ts'
export {
  type FlowTypes,
  TriggerFlow,
  type TriggerFlowOptions,
  type WhenMode,
  type WhenTrigger,
} from './triggerflow/flow.ts'
export type {
  InterruptInfo,
  InterruptStatus,
  PauseOptions,
  PauseSignal,
  ResumeInfo,
  ResumeTo,
} from './triggerflow/interrupt.ts'
export {
  type BatchOptions,
  type BatchTarget,
  type Capture,
  CaseChain,
  type CollectMode,
  type Condition,
  ForEachChain,
  MatchBlock,
  type MatchMode,
  Process,
  type SubFlowOptions,
  type Target,
  type WriteBack,
} from './triggerflow/process.ts'
export { RetainedWindow } from './triggerflow/retained-window.ts'
export { DEFAULT_RETENTION, type Retention } from './triggerflow/retention.ts'
export { type BudgetBounds, type BudgetState, RetentionBudget } from './triggerflow/retention-budget.ts'
export { RuntimeData, type TriggerType } from './triggerflow/runtime-data.ts'
export { type ExecutionSnapshot, SNAPSHOT_VERSION } from './triggerflow/snapshot.ts'
export { type DataStore, StateStore, type StateWriteOptions } from './triggerflow/state.ts'
export {
  type LogEntry,
  type LogListener,
  RuntimeStreamLog,
  type StreamClose,
  type StreamEnvelope,
  type StreamGap,
} from './triggerflow/stream-log.ts'
