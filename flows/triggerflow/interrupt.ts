/**
 * Interrupts: what a chunk asks for when it pauses for an outside answer, and what the execution
 * tells the world about an interrupt that waits.
 */
import type { z } from 'zod'

export interface PauseOptions<P = unknown> {
  /** What kind of interrupt this is, for the UI that answers it (e.g. 'approval'). */
  type: string
  payload?: P
  /** Emitted with the answer when the interrupt is continued, so `when(resumeEvent)` handlers run. */
  resumeEvent?: string
  /**
   * A zod schema the answer must match: `continueWith` refuses a bad answer with `invalid_input`
   * and the interrupt keeps waiting (an answer comes from outside and must not crash the flow).
   */
  answer?: z.ZodType
}

/** A waiting interrupt as the execution reports it. */
export interface InterruptInfo {
  id: string
  type: string
  payload?: unknown
  resumeEvent?: string
  executionId: string
  createdAt: number
}
