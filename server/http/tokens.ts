/** `/api/tokens`: the API key mints viewer and admin tokens for one execution or `*`. */
import { FlowcastError, MintTokenBody } from '@flowcast/protocol'
import { Hono } from 'hono'
import { readJson } from './body.ts'
import type { AppDeps, Env } from './context.ts'
import { corsJson } from './cors.ts'

/** The tokens sub-app, mounted at /api/tokens. */
export function tokenRoutes(deps: AppDeps): Hono<Env> {
  const { access, broker, logger } = deps
  const app = new Hono<Env>()

  app.post('/', async (c) => {
    if (!c.get('principal').canStart()) throw new FlowcastError('forbidden', 'only the API key mints tokens')
    if (!access.enabled) throw new FlowcastError('bad_request', 'auth is off: there are no tokens to mint')
    const body = MintTokenBody.safeParse(await readJson(c))
    if (!body.success) {
      const issue = body.error.issues[0]
      throw new FlowcastError(
        'bad_request',
        `the body must be { executionId | '*', role: 'viewer' | 'admin', ttlSeconds? }: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      )
    }
    const { executionId, role, ttlSeconds } = body.data
    if (executionId !== '*' && !(await broker.info(executionId)))
      throw new FlowcastError('not_found', `no execution "${executionId}"`)
    const token = (await access.mint(executionId, role, ttlSeconds))!
    const exp = decodeExp(token)
    logger.info({ executionId, role }, 'token minted')
    return corsJson(
      c,
      { token, executionId, role, ...(exp ? { expiresAt: new Date(exp * 1000).toISOString() } : {}) },
      201,
    )
  })

  return app
}

/** The `exp` claim of a token we just signed (seconds since the epoch). */
function decodeExp(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
    return typeof payload.exp === 'number' ? payload.exp : undefined
  } catch {
    return undefined
  }
}
