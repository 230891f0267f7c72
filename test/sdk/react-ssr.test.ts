/**
 * The React bindings in Node (issue 12): rendering on the server opens no socket and needs no
 * WebSocket at all; the hooks render their empty state and `idle`.
 */
import { createElement as h } from 'react'
import { renderToString } from 'react-dom/server'
import { describe, expect, it } from 'vitest'
import { createClient } from '../../client-sdk/index.ts'
import { FlowcastProvider, useExecution, useExecutionResult } from '../../client-sdk/react.ts'

function View() {
  const x = useExecution('some-execution')
  const r = useExecutionResult('some-execution')
  return h('p', null, `${x.events.length}|${x.status ?? '-'}|${x.connectionState}|${r.pending}`)
}

describe('React bindings during server-side rendering', () => {
  it('render the empty state, idle, and open nothing (no WebSocket exists here)', () => {
    let sockets = 0
    class Counted {
      constructor() {
        sockets++
        throw new Error('no socket may open during SSR')
      }
    }
    const client = createClient({
      url: 'http://127.0.0.1:9',
      autoConnect: false,
      WebSocket: Counted as never,
    })
    const html = renderToString(h(FlowcastProvider, { client }, h(View)))
    expect(html).toBe('<p>0|-|idle|true</p>')
    expect(sockets).toBe(0)
    expect(client.connectionState).toBe('idle')
    client.close()
  })

  it('a hook without a provider says what is missing', () => {
    expect(() => renderToString(h(View))).toThrow(/FlowcastProvider/)
  })
})
