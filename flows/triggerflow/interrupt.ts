/**
 * Interrupts: what a chunk asks for when it pauses for an outside answer, the record the
 * execution keeps of every interrupt (waiting, resumed or cancelled: the history stays), and the
 * signal `pauseFor` returns so that the chunk's branch parks instead of holding a Promise open.
 */
import type { z } from 'zod'

/** Where a resumed interrupt goes on: the paused chunk's downstream, the chunk again, or an event. */
export type ResumeTo = 'next' | 'self' | { event: string }

export interface PauseOptions<P = unknown> {
  /** What kind of interrupt this is, for the UI that answers it (e.g. 'approval'). */
  type: string
  payload?: P
  /**
   * Where the answer goes (default `'next'`, or `{ event: resumeEvent }` when only that is set):
   * `'next'` makes the answer the paused chunk's output; `'self'` runs the chunk again with
   * `data.isResume` and `data.resume`; `{ event }` emits the event with the answer.
   */
  resumeTo?: ResumeTo
  /** Shortcut for `resumeTo: { event }`. */
  resumeEvent?: string
  /** The interrupt's id (default: a random one). */
  interruptId?: string
  /** For `resumeTo: 'self'`: how often the chunk may be resumed (default 1; `null` unbounded). */
  maxResumes?: number | null
  /**
   * A zod schema the answer must match: `continueWith` refuses a bad answer with `invalid_input`
   * and the interrupt keeps waiting (an answer comes from outside and must not crash the flow).
   */
  answer?: z.ZodType
}

export type InterruptStatus = 'waiting' | 'resumed' | 'cancelled'

/** An interrupt as the execution reports it (stream items, `getInterrupt`, snapshots). */
export interface InterruptInfo {
  id: string
  type: string
  payload?: unknown
  resumeEvent?: string
  resumeTo: ResumeTo
  status: InterruptStatus
  /** The execution that paused (a child's id for an interrupt projected from a child flow). */
  executionId: string
  sourceFlowName: string
  resumeCount: number
  maxResumes: number | null
  createdAt: number
  resumedAt?: number
  resumeValue?: unknown
  /** The caller's id for the answer that resumed it: a retry with the same id and answer is a no-op. */
  resumeRequestId?: string
  /** For an interrupt projected from a child flow: the child's own interrupt id. */
  localInterruptId?: string
  subFlowFrameId?: string
}

const PAUSE = Symbol.for('flowcast.pause')

/** What `data.pauseFor(...)` returns: return it from the chunk to park the branch. */
export interface PauseSignal {
  readonly [PAUSE]: true
  readonly interruptId: string
}

/** Makes the pause signal of interrupt `id`. */
export function pauseSignal(interruptId: string): PauseSignal {
  return { [PAUSE]: true, interruptId }
}

/** True when a chunk returned a pause signal. */
export function isPauseSignal(value: unknown): value is PauseSignal {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PAUSE] === true
}

/** What a resumed chunk sees as `data.resume`. */
export interface ResumeInfo {
  interruptId: string
  value: unknown
  resumeCount: number
}
