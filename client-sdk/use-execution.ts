/**
 * `useExecution(id, { since?, enabled?, throttleMs? })`: one execution's stream as React state.
 * Each mounted hook is one subscription of the provider's client (several hooks on one execution
 * share one wire subscription and each still gets exactly its own events). The subscription lives
 * in an effect whose cleanup aborts it, so StrictMode's double mount leaves one subscription and
 * no duplicate, unmounting the last watcher lets the server go at once, and server-side rendering
 * opens nothing. Updates are batched: one render per microtask, or per `throttleMs`.
 */
import type { FlowcastError, ResultResponse } from '@flowcast/protocol'
import { isTerminal } from '@flowcast/protocol'
import { useCallback, useEffect, useState } from 'react'
import { useFlowcastClient } from './provider.ts'
import type {
  ConnectionState,
  EndInfo,
  ExecutionStatus,
  ResultOfFlow,
  StopStreamResult,
  StreamDataOf,
  StreamEvent,
  SubscribeHandlers,
} from './types.ts'
import { useConnectionState } from './use-connection-state.ts'

/** Options of `useExecution`. */
export interface UseExecutionOptions {
  /** Start after this seq (what the page already shows); a change starts over. */
  since?: number
  /** False subscribes to nothing (and drops what was shown). @default true */
  enabled?: boolean
  /** At most one render per this many ms while events pour in; 0 renders once per microtask. @default 0 */
  throttleMs?: number
  /** This subscription's own token (see `SubscribeHandlers.token`). */
  token?: SubscribeHandlers['token']
  /** How long each result request waits once the stream ended. @default 30000 */
  resultWaitMs?: number
}

/** What `useExecution` returns. */
export interface ExecutionView<T = unknown, R = unknown> {
  /** Every event received, in seq order, each once. */
  events: StreamEvent<T>[]
  status: ExecutionStatus | undefined
  /** The final result once the execution finished (fetched when the stream ended). */
  result: ResultResponse<R> | undefined
  /** The last error (a refused subscription, a bad frame, a failed stop). */
  error: FlowcastError | undefined
  /** Set once the stream ended: why, and who stopped it. */
  end: { reason: EndInfo['reason']; by?: string } | undefined
  connectionState: ConnectionState
  /** Wire subscriptions of the execution across all clients (the server's presence count). */
  subscribers: number | undefined
  /** Stops the stream for everyone (admin); the execution runs on. */
  stop(): Promise<StopStreamResult>
}

type Data<T, R> = Omit<ExecutionView<T, R>, 'connectionState' | 'stop'>

const EMPTY: Data<never, never> = {
  events: [],
  status: undefined,
  result: undefined,
  error: undefined,
  end: undefined,
  subscribers: undefined,
}

/** Watches `executionId` (nothing while it is null/undefined or `enabled` is false). */
export function useExecution<F = unknown>(
  executionId: string | null | undefined,
  options: UseExecutionOptions = {},
): ExecutionView<StreamDataOf<F>, ResultOfFlow<F>> {
  type T = StreamDataOf<F>
  type R = ResultOfFlow<F>
  const client = useFlowcastClient()
  const connectionState = useConnectionState(client)
  const { since, enabled = true, throttleMs = 0, token, resultWaitMs = 30_000 } = options
  const [data, setData] = useState<Data<T, R>>(EMPTY)

  useEffect(() => {
    if (!enabled || !executionId) {
      setData(EMPTY)
      return
    }
    const ctrl = new AbortController()
    let current: Data<T, R> = EMPTY
    let batch: StreamEvent<T>[] = []
    let scheduled = false
    let timer: ReturnType<typeof setTimeout> | undefined
    let fetching = false
    const commit = (): void => {
      scheduled = false
      timer = undefined
      if (ctrl.signal.aborted) return
      if (batch.length > 0) {
        current = { ...current, events: current.events.concat(batch) }
        batch = []
      }
      setData(current)
    }
    const schedule = (): void => {
      if (scheduled) return
      scheduled = true
      if (throttleMs > 0) timer = setTimeout(commit, throttleMs)
      else queueMicrotask(commit)
    }
    const update = (patch: Partial<Data<T, R>>): void => {
      current = { ...current, ...patch }
      schedule()
    }
    const fetchResult = (): void => {
      if (fetching) return
      fetching = true
      const poll = (): void => {
        client.result<F>(executionId, { wait: resultWaitMs, signal: ctrl.signal }).then(
          (result) => {
            if (isTerminal(result.status))
              update({ result: result as ResultResponse<R>, status: result.status })
            else if (!ctrl.signal.aborted) poll()
          },
          (error: FlowcastError) => {
            if (!ctrl.signal.aborted) update({ error })
          },
        )
      }
      poll()
    }
    setData(EMPTY)
    const handlers: SubscribeHandlers<T> = {
      signal: ctrl.signal,
      onEvent: (ev) => {
        batch.push(ev)
        schedule()
      },
      onStatus: (status) => {
        update({ status })
        if (isTerminal(status)) fetchResult()
      },
      onPresence: (subscribers) => update({ subscribers }),
      onEnd: (info) => {
        update({
          end: info.by === undefined ? { reason: info.reason } : { reason: info.reason, by: info.by },
        })
        fetchResult()
      },
      onError: (error) => update({ error }),
    }
    if (since !== undefined) handlers.since = since
    if (token !== undefined) handlers.token = token
    client.subscribe(executionId, handlers as SubscribeHandlers)
    return () => {
      if (timer !== undefined) clearTimeout(timer)
      ctrl.abort()
    }
  }, [client, executionId, enabled, since, throttleMs, token, resultWaitMs])

  const stop = useCallback(async (): Promise<StopStreamResult> => {
    if (!executionId) throw new Error('useExecution: no execution to stop')
    const options: { token?: string } = {}
    if (typeof token === 'string') options.token = token
    return client.stopStream(executionId, options)
  }, [client, executionId, token])

  return { ...data, connectionState, stop }
}
