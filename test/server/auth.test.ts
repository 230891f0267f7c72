/**
 * Token auth over real sockets: the API key starts and mints, a viewer reads, an admin also
 * commands, a token for one execution touches no other, and missing, forged or expired
 * credentials are refused (401 on HTTP and on the upgrade, 4001 on the auth-frame path).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { SignJWT } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import type { FlowcastServer } from '../../server/index.ts'
import { waitFor } from '../helpers/wait.ts'
import { TestSocket } from '../helpers/ws-client.ts'
import { Gate, getJson, serve, start } from './fixtures.ts'

const API_KEY = 'auth-test-api-key-0123456789abcdef'
const SECRET = 'auth-test-secret-0123456789abcdef0123456789'
const auth = { apiKey: API_KEY, secret: SECRET }

const sockets: TestSocket[] = []
const children: ChildProcess[] = []
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()))
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
})

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` })

/** A socket on `/ws` with `query` (e.g. `?token=...`), tracked for cleanup. */
function socket(server: FlowcastServer, query = ''): TestSocket {
  const s = new TestSocket(`${server.url.replace(/^http/, 'ws')}/ws${query}`)
  sockets.push(s)
  return s
}

/** A socket authenticated with `?token=`, after its hello. */
async function withToken(server: FlowcastServer, token: string): Promise<TestSocket> {
  const s = socket(server, `?token=${encodeURIComponent(token)}`)
  await s.next((f) => f.type === 'hello')
  return s
}

/** The HTTP status a refused upgrade answered with. */
/** A token with the server's claims signed by `secret`, expiring at `exp` (seconds). */
function craft(secret: string, claims: Record<string, unknown>, exp: number): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('flowcast')
    .setAudience('flowcast-stream')
    .setIssuedAt(exp - 60)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(secret))
}

/** A gated execution (2 events out, held open) started with the API key. */
async function scene(gate = new Gate()) {
  const server = await serve({ gate, auth })
  const started = await start(server, 'gated', { before: 2, after: 1 }, API_KEY)
  return { server, gate, started, id: started.executionId as string }
}

describe('HTTP auth', () => {
  it('the API key starts and the start carries a viewer and an admin token for that execution', async () => {
    const { server, id, started } = await scene()
    expect(started.tokens.viewer).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    expect(started.tokens.admin).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    const claims = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString())
    expect(claims(started.tokens.viewer)).toMatchObject({ role: 'viewer', scope: id })
    expect(claims(started.tokens.admin)).toMatchObject({ role: 'admin', scope: id })
    // Tokens read and command; they do not start.
    const res = await getJson(`${server.url}/api/flows/ticker/executions`, {
      method: 'POST',
      headers: { ...bearer(started.tokens.admin), 'content-type': 'application/json' },
      body: JSON.stringify({ input: { count: 1 } }),
    })
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } })
  })

  it('missing, wrong, forged and expired credentials answer 401 JSON', async () => {
    const { server, id } = await scene()
    const now = Math.floor(Date.now() / 1000)
    const forged = await craft(
      'another-secret-0123456789abcdef0123',
      { role: 'admin', scope: '*' },
      now + 600,
    )
    const expired = await craft(SECRET, { role: 'admin', scope: '*' }, now - 10)
    const cases: [string, Record<string, string>][] = [
      ['missing', {}],
      ['wrong key', bearer('not-the-key')],
      ['forged', bearer(forged)],
      ['expired', bearer(expired)],
      ['not bearer', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
    ]
    for (const [what, headers] of cases) {
      for (const url of [`${server.url}/api/executions/${id}`, `${server.url}/api/executions/${id}/result`]) {
        const res = await getJson(url, { headers })
        expect({ what, ...res }).toMatchObject({
          what,
          status: 401,
          body: { error: { code: 'unauthorized' } },
        })
      }
      const startRes = await getJson(`${server.url}/api/flows/ticker/executions`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ input: { count: 1 } }),
      })
      expect(startRes.status).toBe(401)
    }
    const expiredRes = await getJson(`${server.url}/api/executions/${id}`, { headers: bearer(expired) })
    expect(expiredRes.body.error.message).toBe('token expired')
  })

  it('a viewer reads (snapshot, result, history, SSE); stop and continue need an admin', async () => {
    const { server, id, started, gate } = await scene()
    const viewer = bearer(started.tokens.viewer)
    const base = `${server.url}/api/executions/${id}`
    expect((await getJson(base, { headers: viewer })).status).toBe(200)
    expect((await getJson(`${base}/result`, { headers: viewer })).status).toBe(202)
    const history = await getJson(`${base}/events?since=0`, { headers: viewer })
    expect(history.body.items.map((e: { seq: number }) => e.seq)).toEqual([1, 2])
    const sse = await fetch(`${base}/stream`, { headers: viewer })
    expect(sse.status).toBe(200)
    expect(sse.headers.get('content-type')).toContain('text/event-stream')
    await sse.body?.cancel()

    const stop = await getJson(`${base}/stop-stream`, { method: 'POST', headers: viewer })
    expect(stop).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } })
    const cont = await getJson(`${base}/interrupts/x/continue`, {
      method: 'POST',
      headers: { ...viewer, 'content-type': 'application/json' },
      body: '{"value":1}',
    })
    expect(cont).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } })

    const adminStop = await getJson(`${base}/stop-stream`, {
      method: 'POST',
      headers: bearer(started.tokens.admin),
    })
    expect(adminStop).toMatchObject({ status: 200, body: { stopped: true } })
    gate.open()
  })

  it('a token for one execution touches no other: forbidden, whether or not the other exists', async () => {
    const { server, started } = await scene()
    const other = await start(server, 'ticker', { count: 3 }, API_KEY)
    for (const token of [started.tokens.viewer, started.tokens.admin]) {
      for (const target of [other.executionId, 'no-such-execution']) {
        for (const path of ['', '/result', '/events', '/stream']) {
          const res = await getJson(`${server.url}/api/executions/${target}${path}`, {
            headers: bearer(token),
          })
          expect({ path, ...res }).toMatchObject({
            path,
            status: 403,
            body: { error: { code: 'forbidden' } },
          })
        }
        const stop = await getJson(`${server.url}/api/executions/${target}/stop-stream`, {
          method: 'POST',
          headers: bearer(token),
        })
        expect(stop.status).toBe(403)
      }
    }
  })

  it('the flow list, /healthz and the page stay public', async () => {
    const { server } = await scene()
    expect((await getJson(`${server.url}/api/flows`)).status).toBe(200)
    expect((await getJson(`${server.url}/healthz`)).status).toBe(200)
    const page = await fetch(`${server.url}/`)
    await page.body?.cancel()
    expect(page.status).not.toBe(401)
  })

  it('POST /api/tokens: the API key mints scoped tokens; a token may not mint', async () => {
    const { server, id, started } = await scene()
    const mint = (body: unknown, credential = API_KEY) =>
      getJson(`${server.url}/api/tokens`, {
        method: 'POST',
        headers: { ...bearer(credential), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    const t0 = Date.now()
    const minted = await mint({ executionId: id, role: 'admin', ttlSeconds: 120 })
    expect(minted).toMatchObject({ status: 201, body: { executionId: id, role: 'admin' } })
    const expiresAt = Date.parse(minted.body.expiresAt)
    expect(expiresAt).toBeGreaterThanOrEqual(t0 + 118_000)
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 121_000)
    const adminStop = await getJson(`${server.url}/api/executions/${id}/stop-stream`, {
      method: 'POST',
      headers: bearer(minted.body.token),
    })
    expect(adminStop.status).toBe(200)

    const all = await mint({ executionId: '*', role: 'viewer' })
    expect(all.status).toBe(201)
    const other = await start(server, 'ticker', { count: 1 }, API_KEY)
    expect(
      (
        await getJson(`${server.url}/api/executions/${other.executionId}`, {
          headers: bearer(all.body.token),
        })
      ).status,
    ).toBe(200)

    expect(await mint({ executionId: id, role: 'viewer' }, started.tokens.admin)).toMatchObject({
      status: 403,
      body: { error: { code: 'forbidden' } },
    })
    expect((await mint({ executionId: id, role: 'viewer' }, 'nope')).status).toBe(401)
    expect(await mint({ executionId: id, role: 'owner' })).toMatchObject({
      status: 400,
      body: { error: { code: 'bad_request' } },
    })
    expect(await mint({ executionId: id, role: 'viewer', ttlSeconds: -5 })).toMatchObject({ status: 400 })
    expect(await mint({ executionId: 'no-such-execution', role: 'viewer' })).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found' } },
    })
  })

  it("auth 'off' stays the explicit open mode: no tokens, everyone may do everything", async () => {
    const server = await serve({ auth: 'off' })
    const started = await start(server, 'ticker', { count: 2 })
    expect(started.tokens).toBeUndefined()
    const s = await TestSocket.open(server.url)
    sockets.push(s)
    await s.subscribe(started.executionId)
    expect((await s.request({ type: 'auth', token: 'anything' })).type).toBe('ack')
    const mint = await getJson(`${server.url}/api/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ executionId: '*', role: 'viewer' }),
    })
    expect(mint).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } })
  })

  it('startServer refuses a missing auth option and an incomplete config', async () => {
    const { startServer } = await import('../../server/index.ts')
    await expect(startServer({ port: 0 } as never)).rejects.toThrow(/auth/)
    await expect(startServer({ port: 0, auth: { apiKey: 'k', secret: '' } })).rejects.toThrow(/secret/)
  })
})

describe('WebSocket auth', () => {
  it('?token=: a viewer subscribes; stop and continue are forbidden and the socket stays', async () => {
    const { server, id, started, gate } = await scene()
    const s = await withToken(server, started.tokens.viewer)
    await s.subscribe(id)
    expect(await s.request({ type: 'stop_stream', executionId: id })).toMatchObject({
      type: 'error',
      code: 'forbidden',
      executionId: id,
    })
    expect(await s.request({ type: 'continue', executionId: id, interruptId: 'x', value: 1 })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    })
    expect((await s.request({ type: 'ping' })).type).toBe('pong')
    expect(s.closeCode).toBeUndefined()
    gate.open()
    await s.streamEnd(id)
    expect(s.seqs(id)).toEqual([1, 2, 3])
  })

  it('?token=: an admin stops the stream; a token for one execution subscribes to no other', async () => {
    const { server, id, started, gate } = await scene()
    const other = await start(server, 'ticker', { count: 2 }, API_KEY)
    const admin = await withToken(server, started.tokens.admin)
    const viewer = await withToken(server, started.tokens.viewer)
    await viewer.subscribe(id)
    for (const s of [admin, viewer]) {
      for (const target of [other.executionId, 'no-such-execution']) {
        expect(await s.request({ type: 'subscribe', executionId: target })).toMatchObject({
          type: 'error',
          code: 'forbidden',
          executionId: target,
        })
      }
      expect(await s.request({ type: 'stop_stream', executionId: other.executionId })).toMatchObject({
        code: 'forbidden',
      })
    }
    expect(await admin.request({ type: 'stop_stream', executionId: id })).toMatchObject({
      type: 'ack',
      stopped: true,
    })
    expect(await viewer.streamEnd(id)).toMatchObject({ reason: 'stopped', by: 'admin' })
    expect(viewer.seqs(id)).toEqual([1, 2])
    gate.open()
  })

  it('a forged, expired or empty ?token= refuses the upgrade with 401', async () => {
    const { server } = await scene()
    const now = Math.floor(Date.now() / 1000)
    const forged = await craft(
      'another-secret-0123456789abcdef0123',
      { role: 'admin', scope: '*' },
      now + 600,
    )
    const expired = await craft(SECRET, { role: 'viewer', scope: '*' }, now - 10)
    const badClaims = await craft(SECRET, { role: 'root', scope: '*' }, now + 600)
    for (const token of [forged, expired, badClaims, '', 'garbage', API_KEY.slice(1)]) {
      const s = socket(server, `?token=${encodeURIComponent(token)}`)
      expect(await s.upgradeStatus()).toBe(401)
    }
  })

  it('auth frame: a socket without ?token= authenticates with its first frame; frames sent right after it are served in order', async () => {
    const { server, id, started, gate } = await scene()
    const s = socket(server)
    await waitFor(new Promise((r) => s.ws.once('open', r)), 5000, 'open')
    s.send({ type: 'auth', id: 'a', token: started.tokens.viewer })
    s.send({ type: 'subscribe', id: 'sub', executionId: id })
    s.send({ type: 'ping', id: 'p' })
    await s.next((f) => f.type === 'pong')
    await s.next((f) => f.type === 'subscribed')
    const kinds = s.frames.filter((f) => f.type !== 'event' && f.type !== 'events' && f.type !== 'presence')
    // Replies to different requests may cross (subscribe awaits its room); both come after hello.
    expect(kinds.map((f) => f.type).slice(0, 2)).toEqual(['ack', 'hello'])
    expect(
      kinds
        .map((f) => f.type)
        .slice(2)
        .sort(),
    ).toEqual(['pong', 'subscribed'])
    expect(kinds[0]).toMatchObject({ id: 'a', authenticated: true, role: 'viewer' })
    // A second auth frame does not change the socket's rights.
    expect(await s.request({ type: 'auth', token: started.tokens.admin })).toMatchObject({
      type: 'error',
      code: 'invalid_state',
    })
    expect(await s.request({ type: 'stop_stream', executionId: id })).toMatchObject({ code: 'forbidden' })
    gate.open()
    await s.streamEnd(id)
    expect(s.seqs(id)).toEqual([1, 2, 3])
  })

  it('auth frame path: any other first frame, a bad token, or silence closes with 4001', async () => {
    const gate = new Gate()
    const server = await serve({ gate, auth, limits: { authTimeoutMs: 300 } })
    const now = Math.floor(Date.now() / 1000)
    const expired = await craft(SECRET, { role: 'viewer', scope: '*' }, now - 10)
    const firsts: (string | Buffer | object)[] = [
      { type: 'ping', id: 1 },
      { type: 'subscribe', id: 1, executionId: 'x' },
      'not json',
      Buffer.from([1, 2, 3]),
      { type: 'auth' },
      { type: 'auth', token: 'garbage' },
      { type: 'auth', token: expired },
      { type: 'auth', token: API_KEY, extra: true },
    ]
    for (const first of firsts) {
      const s = socket(server)
      await waitFor(new Promise((r) => s.ws.once('open', r)), 5000, 'open')
      s.send(first as never, Buffer.isBuffer(first) ? { binary: true } : undefined)
      expect({ first, code: await waitFor(s.closed, 5000, 'close') }).toEqual({ first, code: 4001 })
      expect(s.frames).toEqual([])
    }
    const silent = socket(server)
    const t0 = Date.now()
    expect(await waitFor(silent.closed, 5000, 'close')).toBe(4001)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250)
    expect(silent.closeReason).toBe('auth timeout')
  })

  it('the API key itself works as a credential on the socket (admin of everything)', async () => {
    const { server, id, gate } = await scene()
    const s = await withToken(server, API_KEY)
    await s.subscribe(id)
    expect(await s.request({ type: 'stop_stream', executionId: id })).toMatchObject({ type: 'ack' })
    gate.open()
  })
})

describe('npm start', () => {
  it('generates an API key when FLOWCAST_API_KEY is unset, prints it once, never the secret or a token', async () => {
    const tsx = createRequire(import.meta.url).resolve('tsx')
    const secret = 'npm-start-secret-0123456789abcdef0123456789'
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', FLOWCAST_SECRET: secret, LOG_LEVEL: 'debug' }
    delete env.FLOWCAST_API_KEY
    delete env.FLOWCAST_AUTH
    const child = spawn(process.execPath, ['--import', tsx, 'server/main.ts'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    let out = ''
    const seen = () =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (/API key[^\n]*: (\S+)/.test(out) && /"msg":"listening"/.test(out)) resolve()
        }
        child.stdout!.on('data', (d) => {
          out += d
          check()
        })
        // The generated key is a notice on stderr, so stdout stays JSON log lines.
        child.stderr!.on('data', (d) => {
          out += d
          check()
        })
        child.once('exit', () => reject(new Error(`server exited early: ${out}`)))
      })
    await waitFor(seen(), 15_000, 'the printed URL and API key')
    const url = /"url":"(http:\/\/[^"]+)"/.exec(out)![1]!
    const key = /API key[^\n]*: (\S+)/.exec(out)![1]!
    expect(key.length).toBeGreaterThanOrEqual(24)
    const res = await fetch(`${url}/api/flows/stream-steps/executions`, {
      method: 'POST',
      headers: bearer(key),
      body: '{}',
    })
    expect(res.status).toBe(201)
    const { tokens, executionId } = (await res.json()) as { tokens: { viewer: string }; executionId: string }
    const s = new TestSocket(`${url.replace(/^http/, 'ws')}/ws?token=${tokens.viewer}`)
    sockets.push(s)
    await s.next((f) => f.type === 'hello')
    await s.subscribe(executionId)
    await s.close()
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await waitFor(exited, 5000, 'exit')
    expect(out.split(key).length - 1).toBe(1)
    expect(out).not.toContain(secret)
    expect(out).not.toContain(tokens.viewer)
    expect(out).toContain(executionId)
  })
})
