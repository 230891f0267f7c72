/** One SDK subscription's record: events, gaps, statuses, errors and the end. */
import type { EndInfo, FlowcastClient, FlowcastError, GapInfo, StreamEvent } from '../../client-sdk/index.ts'

export interface Watch {
  events: StreamEvent[]
  gaps: GapInfo[]
  statuses: string[]
  errors: FlowcastError[]
  end: EndInfo | null
  seqs(): number[]
}

/** Subscribes `client` to `executionId` and records everything it is told. */
export function watch(client: FlowcastClient, executionId: string, since?: number): Watch {
  const w: Watch = {
    events: [],
    gaps: [],
    statuses: [],
    errors: [],
    end: null,
    seqs: () => w.events.map((e) => e.seq),
  }
  client.subscribe(executionId, {
    ...(since === undefined ? {} : { since }),
    onEvent: (e) => w.events.push(e),
    onGap: (g) => w.gaps.push(g),
    onStatus: (s) => w.statuses.push(s),
    onError: (err) => w.errors.push(err),
    onEnd: (info) => {
      w.end = info
    },
  })
  return w
}
