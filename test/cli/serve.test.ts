/**
 * `flowcast serve` as a real process: it serves a JavaScript module's flows and a TypeScript
 * module's (tsx is the loader here), with or without the catalog; `--help` lists every setting; a
 * bad setting exits 2 naming it before anything listens; flags and env reach the server.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { envName, flagName } from '../../server/config/setting.ts'
import { SETTINGS } from '../../server/config/settings.ts'
import { runCli, serveCli, stopAll } from '../helpers/cli.ts'
import { startFakeOpenAI } from '../helpers/fake-openai.ts'
import { waitFor } from '../helpers/wait.ts'

afterEach(stopAll)

const JS_FLOWS = 'test/cli/fixtures/gated.mjs'
const TS_FLOWS = 'examples/my-flows.ts'
const OPEN = { FLOWCAST_AUTH: 'off' }

/** The names GET /api/flows lists. */
async function flowNames(url: string): Promise<string[]> {
  const body = (await (await fetch(`${url}/api/flows`)).json()) as { flows: { name: string }[] }
  return body.flows.map((f) => f.name).sort()
}

/** POST /api/flows/:name/executions without credentials (auth off). */
function start(url: string, flow: string, input: unknown = {}) {
  return fetch(`${url}/api/flows/${flow}/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  })
}

describe('flowcast serve', () => {
  it('--help lists every setting with its flag and env name, and exits 0', async () => {
    const cli = runCli(['--help'])
    expect(await waitFor(cli.exited, 20_000, 'help to exit')).toBe(0)
    const help = cli.lines.join('\n')
    expect(help).toMatch(/^Usage: flowcast serve/)
    for (const name of Object.keys(SETTINGS)) {
      expect(help, name).toContain(`--${flagName(name)}`)
      expect(help, name).toContain(envName(name))
    }
  })

  it('serves a JavaScript module: only its flows, unless --catalog', async () => {
    const own = await serveCli([JS_FLOWS], OPEN)
    expect(await flowNames(own.url)).toEqual(['fails', 'gated'])
    const both = await serveCli([JS_FLOWS, '--catalog'], OPEN)
    const names = await flowNames(both.url)
    expect(names).toEqual(expect.arrayContaining(['fails', 'gated', 'stream-steps', 'long-job', 'approval']))
  })

  it('serves a TypeScript module (the README example) and runs its flow to the end', async () => {
    const cli = await serveCli([TS_FLOWS], OPEN)
    expect(await flowNames(cli.url)).toEqual(['word-count'])
    const res = await start(cli.url, 'word-count', { text: 'to be or not', delayMs: 0 })
    expect(res.status).toBe(201)
    const { executionId } = (await res.json()) as { executionId: string }
    const result = await (await fetch(`${cli.url}/api/executions/${executionId}/result?wait=10000`)).json()
    expect(result).toEqual({ status: 'completed', result: { words: 4, longest: 'not' } })
  })

  it('serves the catalog without a module, and not with --no-catalog', async () => {
    const cli = await serveCli([], OPEN)
    expect(await flowNames(cli.url)).toEqual(expect.arrayContaining(['stream-steps', 'long-job']))
    const none = runCli(['serve', '--no-catalog'], OPEN)
    expect(await waitFor(none.exited, 20_000, 'exit')).toBe(2)
    expect(none.stderr()).toMatch(/no flows to serve/)
  })

  it('replaces its web globals with the lightweight ones unless --no-lightweight-web-globals, and answers JSON either way', async () => {
    for (const [args, on] of [
      [[JS_FLOWS], true],
      [[JS_FLOWS, '--no-lightweight-web-globals'], false],
    ] as const) {
      const cli = runCli(['serve', ...args], OPEN)
      const listening = await cli.line((e) => e.msg === 'listening', 20_000, 'flowcast to listen')
      expect(listening.lightweightWebGlobals, args.join(' ')).toBe(on)
      const url = listening.url as string
      const res = await start(url, 'gated')
      expect(res.status).toBe(201)
      const { executionId } = (await res.json()) as { executionId: string }
      const read = await fetch(`${url}/api/executions/${executionId}`)
      expect(read.headers.get('content-type')).toBe('application/json')
      expect(await read.json()).toMatchObject({ executionId })
    }
  })

  it('flags and env reach the server: --max-live-executions, FLOWCAST_MAX_BODY_BYTES, --allowed-origins', async () => {
    const cli = await serveCli(
      [JS_FLOWS, '--max-live-executions', '1', '--allowed-origins', 'https://app.example'],
      {
        ...OPEN,
        FLOWCAST_MAX_BODY_BYTES: '200',
      },
    )
    // The gated execution waits for the test, so it is live while the second start is refused.
    expect((await start(cli.url, 'gated')).status).toBe(201)
    const refused = await start(cli.url, 'gated')
    expect(refused.status).toBe(429)
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('too_many_executions')
    const big = await start(cli.url, 'fails', { pad: 'x'.repeat(400) })
    expect(big.status).toBe(413)
    const cors = await fetch(`${cli.url}/api/flows`, { headers: { origin: 'https://app.example' } })
    expect(cors.headers.get('access-control-allow-origin')).toBe('https://app.example')
    const other = await fetch(`${cli.url}/api/flows`, { headers: { origin: 'https://evil.example' } })
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })

  it("the model settings reach the catalog's model-outline (FLOWCAST_MODEL_*), the key only in its request", async () => {
    const fake = await startFakeOpenAI()
    try {
      const outline = { title: 'T', sections: [{ heading: 'H', bullets: ['b'] }] }
      fake.reply({ kind: 'stream', text: JSON.stringify(outline) })
      const cli = await serveCli([], {
        ...OPEN,
        FLOWCAST_MODEL_BASE_URL: fake.baseURL,
        FLOWCAST_MODEL: 'fake-model',
        FLOWCAST_MODEL_API_KEY: 'sk-never-logged',
      })
      const res = await start(cli.url, 'model-outline', { topic: 'x', sections: 1, bullets: 1 })
      expect(res.status).toBe(201)
      const { executionId } = (await res.json()) as { executionId: string }
      const result = (await (
        await fetch(`${cli.url}/api/executions/${executionId}/result?wait=15000`)
      ).json()) as { status: string; result: { outline: unknown; model: string } }
      expect(result.status).toBe('completed')
      expect(result.result).toMatchObject({ outline, model: 'fake-model' })
      expect(fake.requests[0]!.headers.authorization).toBe('Bearer sk-never-logged')
      expect(cli.lines.join('\n') + cli.stderr()).not.toContain('sk-never-logged')
    } finally {
      await fake.close()
    }
  })

  const refusals: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    [
      'half a model endpoint',
      [],
      { FLOWCAST_MODEL_BASE_URL: 'http://127.0.0.1:1/v1' },
      /modelBaseUrl is set without model/,
    ],
    [
      'a bad flag value',
      ['--max-live-executions', '0'],
      {},
      /invalid maxLiveExecutions from --max-live-executions/,
    ],
    [
      'a bad env value',
      [],
      { FLOWCAST_HEARTBEAT_MS: 'soon' },
      /invalid heartbeatMs from FLOWCAST_HEARTBEAT_MS/,
    ],
    ['a bad older env name', [], { PORT: 'eighty' }, /invalid port from PORT/],
    ['an unknown flag', ['--max-live-exections', '3'], {}, /--max-live-exections/],
    ['a missing module', ['no/such/flows.js'], {}, /flows module not found/],
    ['a module without flows', ['test/helpers/wait.ts'], {}, /exports no TriggerFlow/],
    ['an unknown command', [], {}, /unknown command/],
  ]
  for (const [what, args, env, message] of refusals) {
    it(`exits 2 on ${what}, with one line naming it, before listening`, async () => {
      const cli = runCli(what === 'an unknown command' ? ['server'] : ['serve', ...args], env)
      expect(await waitFor(cli.exited, 20_000, 'exit')).toBe(2)
      expect(cli.stderr()).toMatch(message)
      expect(cli.stderr().trim().split('\n')).toHaveLength(1)
      expect(cli.lines.some((l) => l.includes('listening'))).toBe(false)
    })
  }
})
