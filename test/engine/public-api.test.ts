/**
 * The engine's public face: Execution carries its documented API and nothing the steps use
 * internally, the server ends a copy of an execution through `terminate`, and the engine's
 * modules import each other without a circle (type imports included).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { Execution, FlowcastError, TriggerFlow } from '@flowcast/flows'
import { describe, expect, it } from 'vitest'
import { until } from '../helpers/wait.ts'
import { closeWhenIdle, gate } from './util.ts'

const root = resolve(import.meta.dirname, '../../flows')

describe('Execution', () => {
  it('exposes only its public API on the prototype', () => {
    const names = Object.getOwnPropertyNames(Execution.prototype).sort()
    expect(names).toStrictEqual(
      [
        'constructor',
        'cancel',
        'close',
        'continueWith',
        'emit',
        'emitNowait',
        'getInterrupt',
        'getInterrupts',
        'lifecycle',
        'load',
        'off',
        'on',
        'save',
        'seal',
        'getError',
        'getPendingInterrupts',
        'getResult',
        'getRuntimeStream',
        'getRuntimeStreamEvents',
        'getState',
        'getStatus',
        'input',
        'onCheckpoint',
        'onStatusChange',
        'runtimeStream',
        'signal',
        'start',
        'started',
        'stopStream',
        'terminate',
      ].sort(),
    )
  })

  it('terminate ends a running execution as failed with the given error, once', async () => {
    const hold = gate()
    let aborted: unknown
    let listening = false
    const flow = new TriggerFlow({ name: 'held' })
    flow
      .to(async (data) => {
        data.signal.addEventListener('abort', () => {
          aborted = data.signal.reason
        })
        listening = true
        await hold.promise
        return 'never'
      })
      .end()
    const ex = flow.createExecution(closeWhenIdle)
    await ex.start()
    await until(() => listening)
    const lost = new FlowcastError('node_lost', 'another node took it over')
    expect(ex.terminate(lost)).toBe(true)
    expect(ex.getStatus()).toBe('failed')
    expect(ex.getError()).toBe(lost)
    expect(aborted).toBeInstanceOf(FlowcastError)
    expect(ex.runtimeStream.streamClose?.reason).toBe('failed')
    await expect(ex.getResult()).rejects.toMatchObject({ code: 'execution_failed', cause: lost })
    expect(ex.terminate(lost)).toBe(false)
    hold.open()
  })
})

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

describe('engine modules', () => {
  it('import each other without a circle, type imports included', () => {
    const files = sources(root)
    const edges = new Map<string, string[]>()
    for (const file of files) {
      const text = readFileSync(file, 'utf8')
      const deps = [...text.matchAll(/^(?:import|export)[^'"]*?from '(\.[^']+)'/gm)].map((m) =>
        resolve(dirname(file), m[1]!),
      )
      edges.set(file, deps)
    }
    const state = new Map<string, 'open' | 'done'>()
    const cycles: string[] = []
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(root, f)).join(' -> '))
        return
      }
      state.set(file, 'open')
      for (const dep of edges.get(file) ?? []) visit(dep, [...path, file])
      state.set(file, 'done')
    }
    for (const file of files) visit(file, [])
    expect(cycles).toStrictEqual([])
  })
})
