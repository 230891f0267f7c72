/**
 * A producer that waits for the test instead of racing it, for the browser tests whose stream must
 * still be running when a page opens or a link is cut, however slowly a loaded machine opens pages.
 */
import { TriggerFlow } from '../../flows/index.ts'

/** The `held-job` flow and the gate of its latest execution. */
export interface HeldJob {
  readonly flow: TriggerFlow<any>
  /** Lets the latest execution of the flow go on past `holdAfter`. */
  openGate(): void
}

/**
 * `count` items `intervalMs` apart, holding after the first `holdAfter` until the test opens the
 * gate (or the execution is cancelled), then the rest and `{ put, accepted }` as long-job answers.
 */
export function heldJob(): HeldJob {
  let open: () => void = () => {}
  const flow = new TriggerFlow({ name: 'held-job' })
  flow
    .to(
      flow.chunk('produce', async (data) => {
        const { count, holdAfter, intervalMs } = data.input as {
          count: number
          holdAfter: number
          intervalMs: number
        }
        const gate = new Promise<void>((resolve) => {
          open = resolve
          data.signal.addEventListener('abort', () => resolve(), { once: true })
        })
        let accepted = 0
        for (let n = 1; n <= count && !data.signal.aborted; n++) {
          if (n === holdAfter + 1) await gate
          if (await data.putIntoStream({ n, of: count, pad: 'x'.repeat(48) })) accepted++
          if (intervalMs > 0) await new Promise<void>((r) => setTimeout(r, intervalMs))
        }
        return { put: count, accepted }
      }),
    )
    .end()
  return { flow, openGate: () => open() }
}
