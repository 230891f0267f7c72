/**
 * How late this process's timers ran while a test measured time: a bound on "noticed within X ms"
 * adds the event loop's worst delay over the same span, because on a loaded machine a timer fires
 * late by that much whatever the code under test does, and never early.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'

/** A running measure of the event loop's delay. */
export interface LoopLag {
  /** The worst delay seen since the start, in ms; stops the measure. */
  stop(): number
}

/** Starts measuring the event loop's delay (10 ms resolution). */
export function watchLoopLag(): LoopLag {
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  return {
    stop() {
      h.disable()
      return h.max / 1e6
    },
  }
}
