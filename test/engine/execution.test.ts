import { describe, expect, it } from 'vitest'
import { type ExecutionStatus, FlowcastError, isFlowcastError, TriggerFlow } from '../../flows/index.ts'
import { until, waitFor } from '../helpers/wait.ts'
import { closeWhenIdle, drain, gate } from './util.ts'

function codeOf(err: unknown): string | undefined {
  return err instanceof FlowcastError ? err.code : undefined
}

describe('5. result', () => {
  it("is the main chain's last value", async () => {
    const flow = new TriggerFlow({ name: 'chain' })
    flow
      .to(async (data) => (data.value as number) + 1)
      .to(async (data) => (data.value as number) * 10)
      .to(async (data) => `n=${data.value}`)
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start(4)
    expect(await ex.getResult({ timeout: 1000 })).toBe('n=50')
  })

  it('is what data.setResult set, even from an earlier step or a side branch', async () => {
    const flow = new TriggerFlow({ name: 'set-result' })
    flow
      .to(async (data) => {
        data.setResult({ chosen: true })
        return 'ignored'
      })
      .sideBranch(async () => 'side')
      .to(async () => 'last')
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({ chosen: true })
  })

  it('getResult rejects with code timeout when the wait runs out, and the execution goes on', async () => {
    const flow = new TriggerFlow({ name: 'late' })
    const go = gate()
    flow
      .to(async () => {
        await go.promise
        return 'eventually'
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await expect(ex.getResult({ timeout: 20 })).rejects.toSatisfy((e) => codeOf(e) === 'timeout')
    expect(ex.getStatus()).toBe('running')
    go.open()
    expect(await ex.getResult({ timeout: 1000 })).toBe('eventually')
  })

  it('getResult rejects with execution_failed and the flow error as cause', async () => {
    const flow = new TriggerFlow({ name: 'bad' })
    const boom = new Error('boom')
    flow.to(async () => {
      throw boom
    })
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    const err = await ex.getResult({ timeout: 1000 }).catch((e: unknown) => e)
    expect(codeOf(err)).toBe('execution_failed')
    expect((err as Error).cause).toBe(boom)
    expect((err as Error).message).toContain('bad')
  })
})

describe('6. state', () => {
  it('supports get/set/append/delete, is snapshotted by getState and never enters the stream', async () => {
    const flow = new TriggerFlow({ name: 'stateful' })
    const seen: unknown[] = []
    flow.to(async (data) => {
      data.state.set('phase', 'one')
      data.state.append('log', 'a')
      data.state.append('log', 'b')
      data.state.set('scalar', 1)
      data.state.append('scalar', 2)
      data.state.set('gone', true)
      seen.push(data.state.delete('gone'), data.state.delete('never'))
      seen.push(data.state.get('phase'), data.state.get('missing', 'fallback'))
      await data.putIntoStream('only item')
    })
    const ex = flow.createExecution(closeWhenIdle)
    const items = await drain(ex.getRuntimeStream(undefined, { timeout: null }))
    expect(items).toStrictEqual(['only item'])
    expect(seen).toStrictEqual([true, false, 'one', 'fallback'])
    const snapshot = ex.getState()
    expect(snapshot).toStrictEqual({ phase: 'one', log: ['a', 'b'], scalar: [1, 2] })
    ;(snapshot.log as string[]).push('tampered')
    expect(ex.getState().log).toStrictEqual(['a', 'b'])
  })
})

describe('7. status lifecycle', () => {
  it('goes created -> running -> waiting -> running -> completed', async () => {
    const flow = new TriggerFlow({ name: 'lifecycle' })
    flow.to(async (data) => data.pauseFor({ type: 'ok?' })).end()
    const ex = flow.createExecution(closeWhenIdle)
    const seen: ExecutionStatus[] = [ex.getStatus()]
    ex.onStatusChange((s) => seen.push(s))
    await ex.start()
    await until(() => ex.getStatus() === 'waiting')
    const [pending] = ex.getPendingInterrupts()
    await ex.continueWith(pending!.id, 'yes')
    expect(await ex.getResult({ timeout: 1000 })).toBe('yes')
    expect(seen).toStrictEqual(['created', 'running', 'waiting', 'running', 'completed'])
  })

  it('is not completed while a side branch or a when handler still runs', async () => {
    const flow = new TriggerFlow({ name: 'stragglers' })
    const side = gate()
    const handler = gate()
    let mainDone = false
    flow.when('ping').to(async () => {
      await handler.promise
    })
    flow
      .to(async (data) => {
        void data.emit('ping')
        return 'main'
      })
      .sideBranch(async () => {
        await side.promise
      })
      .to(async () => {
        mainDone = true
        return 'main'
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => mainDone)
    expect(ex.getStatus()).toBe('running')
    side.open()
    await expect(ex.getResult({ timeout: 30 })).rejects.toSatisfy((e) => codeOf(e) === 'timeout')
    expect(ex.getStatus()).toBe('running')
    handler.open()
    expect(await ex.getResult({ timeout: 1000 })).toBe('main')
    expect(ex.getStatus()).toBe('completed')
  })

  it('cannot be started twice, nor after a cancel', async () => {
    const flow = new TriggerFlow({ name: 'once' })
    flow.to(async () => 1)
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await expect(ex.start()).rejects.toSatisfy((e) => codeOf(e) === 'already_started')
    const cancelled = flow.createExecution(closeWhenIdle)
    cancelled.cancel()
    await expect(cancelled.start()).rejects.toSatisfy((e) => codeOf(e) === 'invalid_state')
    expect(cancelled.getStatus()).toBe('cancelled')
    expect(await drain(cancelled.getRuntimeStream(undefined, { timeout: null }))).toStrictEqual([])
  })
})

describe('8. events and when', () => {
  it('data.emit and execution.emit run when handlers with the value', async () => {
    const flow = new TriggerFlow({ name: 'events' })
    const heard: unknown[] = []
    const go = gate()
    flow.when('greet').to(async (data) => {
      heard.push(data.value)
    })
    flow.to(async (data) => {
      await data.emit('greet', 'from flow')
      // Awaiting the emit waited for the handler.
      heard.push('after emit')
      await go.promise
    })
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => heard.length === 2)
    await ex.emit('greet', 'from outside')
    go.open()
    await ex.getResult({ timeout: 1000 })
    expect(heard).toStrictEqual(['from flow', 'after emit', 'from outside'])
    await expect(ex.emit('greet', 'too late')).rejects.toSatisfy((e) => codeOf(e) === 'invalid_state')
  })

  it("mode 'and' waits for all, delivers them grouped by type, then starts over", async () => {
    const flow = new TriggerFlow({ name: 'and' })
    const fired: unknown[] = []
    const work = flow.chunk('work', async () => 'worked')
    flow.when(['A', 'B', work], { mode: 'and' }).to(async (data) => {
      fired.push(data.value)
    })
    flow.to(work).to(async (data) => {
      await data.emit('A', 1)
      await data.emit('A', 2)
      fired.push('not yet')
      await data.emit('B', 3)
      await data.emit('B', 4)
    })
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await ex.getResult({ timeout: 1000 })
    expect(fired).toStrictEqual(['not yet', { chunk: { work: 'worked' }, event: { A: 2, B: 3 } }])
  })

  it("mode 'or' delivers { type, name, value } on each; 'simple_or' the bare value", async () => {
    const flow = new TriggerFlow({ name: 'or' })
    const or: unknown[] = []
    const simple: unknown[] = []
    flow.when(['A', 'B'], { mode: 'or' }).to(async (data) => {
      or.push(data.value)
    })
    flow.when(['A', 'B'], { mode: 'simple_or' }).to(async (data) => {
      simple.push(data.value)
    })
    flow.to(async (data) => {
      await data.emit('B', 'b1')
      await data.emit('A', 'a1')
      await data.emit('B', 'b2')
    })
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await ex.getResult({ timeout: 1000 })
    expect(or).toStrictEqual([
      { type: 'event', name: 'B', value: 'b1' },
      { type: 'event', name: 'A', value: 'a1' },
      { type: 'event', name: 'B', value: 'b2' },
    ])
    expect(simple).toStrictEqual(['b1', 'a1', 'b2'])
  })

  it('a single trigger delivers the raw value whatever the mode, and a chunk name means that chunk', async () => {
    const flow = new TriggerFlow({ name: 'single' })
    const heard: unknown[] = []
    const step = flow.chunk('step', async (data) => `${data.value}!`)
    flow.when('step', { mode: 'or' }).to(async (data) => {
      heard.push(data.value)
    })
    flow.to(step).end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start('hi')
    expect(await ex.getResult({ timeout: 1000 })).toBe('hi!')
    expect(heard).toStrictEqual(['hi!'])
  })
})

describe('9. builders', () => {
  it('.to chains values; .sideBranch gets the same value and does not change the chain', async () => {
    const flow = new TriggerFlow({ name: 'side' })
    const sideSaw: unknown[] = []
    flow
      .to(async (data) => `${data.value}-a`)
      .sideBranch(async (data) => {
        sideSaw.push(data.value)
        return 'side result'
      })
      .to(async (data) => `${data.value}-b`)
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start('x')
    expect(await ex.getResult({ timeout: 1000 })).toBe('x-a-b')
    expect(sideSaw).toStrictEqual(['x-a'])
  })

  it('.batch runs its targets concurrently on one value and keys the outputs by name', async () => {
    const flow = new TriggerFlow({ name: 'batch' })
    const bothIn = { left: gate(), right: gate() }
    const left = flow.chunk('left', async (data) => {
      bothIn.left.open()
      await bothIn.right.promise
      return `L${data.value}`
    })
    const right = flow.chunk('right', async (data) => {
      bothIn.right.open()
      await bothIn.left.promise
      return `R${data.value}`
    })
    flow.batch(left, right).end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start(1)
    // Each waits for the other to have started: a sequential batch would never finish.
    const result = await ex.getResult({ timeout: 1000 })
    expect(result).toStrictEqual({ left: 'L1', right: 'R1' })
    expect(Object.keys(result as object)).toStrictEqual(['left', 'right'])
  })

  it('.forEach runs the body per item concurrently and keeps input order; non-array is one item; [] gives []', async () => {
    const flow = new TriggerFlow({ name: 'each' })
    const order: number[] = []
    flow
      .forEach()
      .to(async (data) => {
        const n = data.value as number
        // Later items finish first: the output must still follow the input order.
        await new Promise((r) => setTimeout(r, 40 - n * 10))
        order.push(n)
        return n * n
      })
      .endForEach()
      .end()
    const run = async (input: unknown) => {
      const ex = flow.createExecution(closeWhenIdle)
      await ex.start(input)
      return ex.getResult({ timeout: 1000 })
    }
    expect(await run([1, 2, 3])).toStrictEqual([1, 4, 9])
    expect(order).toStrictEqual([3, 2, 1])
    expect(await run(2)).toStrictEqual([4])
    expect(await run([])).toStrictEqual([])

    const words = new TriggerFlow({ name: 'each-string' })
    words
      .forEach({ concurrency: 1 })
      .to(async (data) => String(data.value).length)
      .endForEach()
      .end()
    const ex = words.createExecution(closeWhenIdle)
    await ex.start('abc')
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual([3])
  })

  it('.match runs the first case that holds exactly true; else; pass-through; hit_all', async () => {
    const flow = new TriggerFlow({ name: 'match' })
    flow
      .match()
      .case(({ value: v }) => (v === 'truthy' ? (1 as unknown as boolean) : false))
      .to(async () => 'truthy matched (wrong)')
      .case('b')
      .to(async () => 'equal b')
      .case(({ value: v }) => typeof v === 'number')
      .to(async (data) => `number ${data.value}`)
      .case(({ value: v }) => v === 5)
      .to(async () => 'second hit (wrong in hit_first)')
      .caseElse()
      .to(async (data) => `else ${data.value}`)
      .endMatch()
      .to(async (data) => `[${data.value}]`)
      .end()
    const run = async (f: TriggerFlow, input: unknown) => {
      const ex = f.createExecution(closeWhenIdle)
      await ex.start(input)
      return ex.getResult({ timeout: 1000 })
    }
    expect(await run(flow, 'b')).toBe('[equal b]')
    expect(await run(flow, 5)).toBe('[number 5]')
    expect(await run(flow, 'truthy')).toBe('[else truthy]')

    const noElse = new TriggerFlow({ name: 'match-through' })
    noElse
      .match()
      .case('x')
      .to(async () => 'X')
      .endMatch()
      .end()
    expect(await run(noElse, 'y')).toBe('y')

    const all = new TriggerFlow({ name: 'match-all' })
    all
      .match({ mode: 'hit_all' })
      .case(({ value: v }) => (v as number) > 1)
      .to(async () => 'gt1')
      .case(({ value: v }) => (v as number) > 10)
      .to(async () => 'gt10')
      .case(({ value: v }) => (v as number) > 2)
      .to(async () => 'gt2')
      .caseElse()
      .to(async () => 'small')
      .endMatch()
      .end()
    expect(await run(all, 5)).toStrictEqual(['gt1', 'gt2'])
    expect(await run(all, 0)).toBe('small')
  })

  it.each([
    [
      'filled_and_update',
      [
        { l: 1, r: 2 },
        { l: 3, r: 2 },
        { l: 3, r: 4 },
      ],
    ],
    [
      'filled_then_empty',
      [
        { l: 1, r: 2 },
        { l: 3, r: 4 },
      ],
    ],
  ] as const)('.collect in mode %s', async (mode, expected) => {
    const flow = new TriggerFlow({ name: `collect-${mode}` })
    const filled: unknown[] = []
    flow.when('L').collect('pair', 'l', { mode })
    flow.when('R').collect('pair', 'r', { mode })
    flow.when({ collect: 'pair' }).to(async (data) => {
      filled.push(data.value)
    })
    flow.to(async (data) => {
      await data.emit('L', 1)
      await data.emit('R', 2)
      await data.emit('L', 3)
      await data.emit('R', 4)
    })
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await ex.getResult({ timeout: 1000 })
    expect(filled).toStrictEqual(expected)
  })

  it('.collect lets the branch that fills the collection go on with the map', async () => {
    const flow = new TriggerFlow({ name: 'collect-join' })
    const go = gate()
    flow
      .sideBranch(
        flow
          .branch()
          .to(async () => {
            await go.promise
            return 'slow'
          })
          .collect('join', 'side')
          .to(async (data) => data.setResult(data.value)),
      )
      .to(async () => 'fast')
      .collect('join', 'main')
      .to(async () => 'main went on (wrong)')
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    go.open()
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({ side: 'slow', main: 'fast' })

    // A main chain that ended at a collect it did not fill has no value: nothing set a result, so
    // the result is the close snapshot (the empty state), never an internal end-of-branch marker.
    const halted = new TriggerFlow({ name: 'collect-halt' })
    const later = gate()
    halted
      .sideBranch(
        halted
          .branch()
          .to(async () => later.promise)
          .collect('j', 'side'),
      )
      .to(async () => 'early')
      .collect('j', 'main')
    const hx = halted.createExecution(closeWhenIdle)
    await hx.start()
    later.open()
    expect(await hx.getResult({ timeout: 1000 })).toStrictEqual({})
  })
})

describe('10. child flows', () => {
  function childFlow(name: string) {
    const child = new TriggerFlow({ name })
    child
      .to(async (data) => {
        await data.putIntoStream({ child: 1, got: data.input })
        await data.putIntoStream({ child: 2 })
        await data.stopStream()
        return `${name} result`
      })
      .end()
    return child
  }

  it('bridges child items unwrapped and in order with source = child name; the child stop does not close the parent', async () => {
    const child = childFlow('kid')
    const parent = new TriggerFlow({ name: 'parent' })
    parent
      .to(async (data) => {
        await data.putIntoStream('p1')
        return 'for the kid'
      })
      .to(child)
      .to(async (data) => {
        await data.putIntoStream(`p2 got ${data.value}`)
        return data.value
      })
      .end()
    const ex = parent.createExecution(closeWhenIdle)
    const events = await drain(ex.getRuntimeStreamEvents(undefined, { timeout: null }))
    expect(events.map((e) => ('seq' in e ? [e.seq, e.source, e.data] : e))).toStrictEqual([
      [1, undefined, 'p1'],
      [2, 'kid', { child: 1, got: 'for the kid' }],
      [3, 'kid', { child: 2 }],
      [4, undefined, 'p2 got kid result'],
    ])
    expect(await ex.getResult({ timeout: 1000 })).toBe('kid result')
    expect(ex.runtimeStream.streamClose?.reason).toBe('completed')
  })

  it('names nested children child/grandchild, and bridgeStream: false turns bridging off', async () => {
    const grandchild = childFlow('grandchild')
    const child = new TriggerFlow({ name: 'child' })
    child.toSubFlow(grandchild).end()
    const parent = new TriggerFlow({ name: 'root' })
    parent
      .toSubFlow(child)
      .to(async (data) => data.value)
      .end()
    const ex = parent.createExecution(closeWhenIdle)
    const events = await drain(ex.getRuntimeStreamEvents('in', { timeout: null }))
    expect(events.map((e) => ('seq' in e ? e.source : 'gap'))).toStrictEqual([
      'child/grandchild',
      'child/grandchild',
    ])
    expect(await ex.getResult({ timeout: 1000 })).toBe('grandchild result')

    const quiet = new TriggerFlow({ name: 'quiet' })
    quiet
      .toSubFlow(childFlow('muted'), { bridgeStream: false })
      .to(async (data) => {
        await data.putIntoStream('own')
        return data.value
      })
      .end()
    const qx = quiet.createExecution(closeWhenIdle)
    expect(await drain(qx.getRuntimeStream(undefined, { timeout: null }))).toStrictEqual(['own'])
    expect(await qx.getResult({ timeout: 1000 })).toBe('muted result')
  })
})

describe('11. errors', () => {
  it('a throwing chunk fails its execution only: status, error, cause, stream reason; nothing after it runs', async () => {
    const flow = new TriggerFlow({ name: 'thrower' })
    const boom = new TypeError('bad thing', { cause: 'root cause' })
    const ran: string[] = []
    flow
      .to(async (data) => {
        if (data.input === 'fail') throw boom
        return 'fine'
      })
      .to(async () => {
        ran.push('after')
      })
    const failing = flow.createExecution(closeWhenIdle)
    const healthy = flow.createExecution(closeWhenIdle)
    const items = drain(failing.getRuntimeStream('fail', { timeout: null }))
    await healthy.start('ok')
    // As in TriggerFlow 4.1: the reader drains what there is, then the failure reaches it.
    await expect(items).rejects.toSatisfy((e) => isFlowcastError(e, 'execution_failed'))
    expect(failing.getStatus()).toBe('failed')
    expect(failing.getError()).toBe(boom)
    expect((failing.getError() as Error).cause).toBe('root cause')
    expect(failing.runtimeStream.streamClose?.reason).toBe('failed')
    const err = await failing.getResult().catch((e: unknown) => e)
    expect(isFlowcastError(err, 'execution_failed')).toBe(true)
    expect((err as Error).cause).toBe(boom)
    await healthy.getResult({ timeout: 1000 })
    expect(healthy.getStatus()).toBe('completed')
    expect(ran).toStrictEqual(['after'])
  })

  it("skipExceptions ends the failing chunk's branch (nothing downstream runs) and records the error", async () => {
    const flow = new TriggerFlow({ name: 'skipper', skipExceptions: true })
    const boom = new Error('skip me')
    const ran: string[] = []
    const bad = flow.chunk('bad', async () => {
      throw boom
    })
    flow
      .to(bad)
      .to(async () => {
        ran.push('downstream')
      })
      .end()
    flow.to(async () => 'sibling').end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    expect(await ex.getResult({ timeout: 1000 })).toBe('sibling')
    expect(ran).toStrictEqual([])
    expect(ex.getStatus()).toBe('completed')
    expect(ex.skippedErrors).toStrictEqual([{ chunk: 'bad', error: boom }])
  })
})

describe('12. cancel', () => {
  it('aborts data.signal, sets cancelled, closes the stream and rejects the result', async () => {
    const flow = new TriggerFlow({ name: 'cancellable' })
    let reason: unknown
    flow.to(async (data) => {
      await data.putIntoStream('working')
      await new Promise<void>((resolve) =>
        data.signal.addEventListener('abort', () => {
          reason = data.signal.reason
          resolve()
        }),
      )
      await data.putIntoStream('after abort (dropped)')
      return 'should not be the result'
    })
    const ex = flow.createExecution(closeWhenIdle)
    const reader = drain(ex.getRuntimeStream(undefined, { timeout: null }))
    await until(() => ex.runtimeStream.lastSeq === 1)
    expect(ex.cancel('user asked')).toBe(true)
    expect(ex.cancel('again')).toBe(false)
    expect(ex.getStatus()).toBe('cancelled')
    expect(ex.signal.aborted).toBe(true)
    expect(await waitFor(reader, 1000)).toStrictEqual(['working'])
    expect(ex.runtimeStream.streamClose?.reason).toBe('cancelled')
    await until(() => reason !== undefined)
    expect(codeOf(reason)).toBe('execution_cancelled')
    expect((reason as Error).message).toContain('user asked')
    await expect(ex.getResult()).rejects.toSatisfy((e) => codeOf(e) === 'execution_cancelled')
    expect(ex.getStatus()).toBe('cancelled')
  })

  it('a signal first asked for after the cancel is already aborted, with the same reason', async () => {
    // The engine makes the AbortSignal only when asked (internal/lazy-abort.ts).
    const flow = new TriggerFlow({ name: 'cancel-then-ask' })
    const proceed = gate()
    let late: AbortSignal | undefined
    let running = false
    flow.to(async (data) => {
      running = true
      await proceed.promise
      late = data.signal
    })
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => running)
    expect(ex.cancel('before anyone looked')).toBe(true)
    const signal = ex.signal
    expect(signal.aborted).toBe(true)
    expect(codeOf(signal.reason)).toBe('execution_cancelled')
    expect((signal.reason as Error).message).toContain('before anyone looked')
    proceed.open()
    await until(() => late !== undefined)
    expect(late).toBe(signal)
  })

  it('cancels a running child flow too', async () => {
    const child = new TriggerFlow({ name: 'child-c' })
    let childAborted = false
    let childRunning = false
    const childStarts: unknown[] = []
    child.to(async (data) => {
      childRunning = true
      childStarts.push(data.input)
      await new Promise<void>((r) =>
        data.signal.addEventListener('abort', () => {
          childAborted = true
          r()
        }),
      )
    })
    const parent = new TriggerFlow({ name: 'parent-c' })
    let before = Promise.resolve()
    let passedGate = 0
    parent
      .to(async (data) => {
        await before
        passedGate++
        return data.input
      })
      .to(child)
    const ex = parent.createExecution(closeWhenIdle)
    await ex.start('first')
    await until(() => childRunning)
    ex.cancel()
    await until(() => childAborted)

    // Cancelled while the step before the child still runs: that step may finish, the child never
    // starts. A twin that is not cancelled passes the same gate at the same moment: once its child
    // runs, the cancelled one's child would have run too.
    childStarts.length = 0
    passedGate = 0
    const go = gate()
    before = go.promise
    const early = parent.createExecution(closeWhenIdle)
    const twin = parent.createExecution(closeWhenIdle)
    await early.start('early')
    await twin.start('twin')
    early.cancel()
    go.open()
    await expect(early.getResult()).rejects.toSatisfy((e) => codeOf(e) === 'execution_cancelled')
    await until(() => passedGate === 2, 1000, 'both executions past the gate')
    await until(() => childStarts.includes('twin'), 1000, "the twin's child to start")
    expect(childStarts).toStrictEqual(['twin'])
    twin.cancel()
  })
})

describe('13. interrupts', () => {
  it('pause puts the interrupt, sets waiting; continueWith puts resume, returns the answer to the chain and fires resumeEvent', async () => {
    const flow = new TriggerFlow({ name: 'asker' })
    const resumed: unknown[] = []
    // resumeEvent alone routes the answer to the event (TriggerFlow 4.1), where the chain goes on.
    flow
      .when('answered')
      .to(async (data) => {
        resumed.push(data.value)
        return { answer: data.value }
      })
      .end()
    flow.to(async (data) =>
      data.pauseFor({ type: 'approval', payload: { q: 'ship it?' }, resumeEvent: 'answered' }),
    )
    const ex = flow.createExecution(closeWhenIdle)
    const events = drain(ex.getRuntimeStream(undefined, { timeout: null }))
    await until(() => ex.getStatus() === 'waiting')
    const pending = ex.getPendingInterrupts()
    expect(pending).toHaveLength(1)
    const id = pending[0]!.id
    expect(pending[0]).toMatchObject({
      id,
      type: 'approval',
      payload: { q: 'ship it?' },
      resumeEvent: 'answered',
    })
    await ex.continueWith(id, { ok: true })
    expect(await ex.getResult({ timeout: 1000 })).toStrictEqual({ answer: { ok: true } })
    expect(resumed).toStrictEqual([{ ok: true }])
    const items = (await events) as {
      type: string
      action: string
      interrupt: { id: string }
      value?: unknown
    }[]
    expect(items.map((i) => [i.type, i.action, i.interrupt.id])).toStrictEqual([
      ['interrupt', 'pause', id],
      ['interrupt', 'resume', id],
    ])
    expect(items[1]!.value).toStrictEqual({ ok: true })
    expect(ex.getPendingInterrupts()).toStrictEqual([])
  })

  it('an unknown id and an interrupt already answered are clear errors', async () => {
    const flow = new TriggerFlow({ name: 'twice' })
    flow.to(async (data) => data.pauseFor({ type: 'x' })).end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.getStatus() === 'waiting')
    await expect(ex.continueWith('nope', 1)).rejects.toSatisfy((e) => codeOf(e) === 'interrupt_not_found')
    const id = ex.getPendingInterrupts()[0]!.id
    await ex.continueWith(id, 1)
    await expect(ex.continueWith(id, 2)).rejects.toSatisfy((e) => codeOf(e) === 'interrupt_not_waiting')
    expect(await ex.getResult({ timeout: 1000 })).toBe(1)
  })

  it('completes after the answer even when nobody awaited pauseFor and there is no resumeEvent', async () => {
    const flow = new TriggerFlow({ name: 'fire-and-forget-pause' })
    flow
      .to(async (data) => {
        if (data.input === 'pause') void data.pauseFor({ type: 'note' })
        return 'returned at once'
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    // The same flow without the pause: its completion marks the moment the chain's bookkeeping
    // after the return is over, so that nothing but the answer is left to end `ex`.
    const twin = flow.createExecution(closeWhenIdle)
    await ex.start('pause')
    await twin.start('no pause')
    expect(await waitFor(twin.getResult(), 1000, 'the twin to complete')).toBe('returned at once')
    expect(ex.getStatus()).toBe('waiting')
    await ex.continueWith(ex.getPendingInterrupts()[0]!.id, 'seen')
    expect(await waitFor(ex.getResult(), 1000)).toBe('returned at once')
  })

  it("a child's interrupt is answerable on the parent, which waits meanwhile", async () => {
    const child = new TriggerFlow({ name: 'asking-child' })
    child.to(async (data) => data.pauseFor({ type: 'approval' })).end()
    const parent = new TriggerFlow({ name: 'asking-parent' })
    parent
      .to(child)
      .to(async (data) => `child said ${data.value}`)
      .end()
    const ex = parent.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => ex.getStatus() === 'waiting')
    const [pending] = ex.getPendingInterrupts()
    await ex.continueWith(pending!.id, 'yes')
    expect(await ex.getResult({ timeout: 1000 })).toBe('child said yes')
  })
})
