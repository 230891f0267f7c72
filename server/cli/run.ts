/**
 * The `flowcast` command's work. `flowcast serve [module] [options]` runs a node: the module's flows
 * (and/or the catalog), every setting from flags or the environment (see `--help` and the README's
 * configuration table), JSON log lines on stdout. A bad setting exits 2 before anything listens,
 * with one line on stderr naming it. The first SIGTERM/SIGINT drains the node (no new executions,
 * `/readyz` 503, running ones get `drainTimeoutMs` to finish, then the rest end as `shutdown`) and
 * closes it; a second one exits at once.
 *
 * A generated API key is a notice for the person at the terminal, not a log line: it goes to
 * stderr, so stdout stays JSON and log shippers do not collect a credential.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TriggerFlow } from '@flowcast/flows'
import { catalogFlows, type ModelEndpoint } from '@flowcast/flows/catalog'
import { pino } from 'pino'
import { helpText } from '../config/reference.ts'
import { LIMIT_SETTINGS, type ServerLimits } from '../config/settings.ts'
import { ConfigError, type NodeConfig, parseCommandLine, readConfig } from '../config/sources.ts'
import { randomKey, startServer } from '../index.ts'
import { REDACT } from '../log.ts'
import { loadFlows } from './load-flows.ts'

/** The version of the @flowcast/server package this file belongs to (source or built). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === '@flowcast/server') return pkg.version ?? 'unknown'
    } catch {
      // No package.json at this level: go up.
    }
    dir = dirname(dir)
  }
  return 'unknown'
}

/** The limits part of a node's configuration. */
function limitsOf(config: NodeConfig): ServerLimits {
  const out: Record<string, number> = {}
  for (const name of Object.keys(LIMIT_SETTINGS) as (keyof ServerLimits)[]) out[name] = config[name]!
  return out as ServerLimits
}

/** The model endpoint the settings name, or null (the simulated model); half of one is refused. */
function modelOf(config: NodeConfig): ModelEndpoint | null {
  const { modelBaseUrl: baseURL, model, modelApiKey: apiKey } = config
  if (baseURL === undefined && model === undefined) {
    if (apiKey !== undefined) throw new ConfigError('modelApiKey is set without modelBaseUrl and model')
    return null
  }
  if (baseURL === undefined || model === undefined)
    throw new ConfigError(
      `${baseURL === undefined ? 'model' : 'modelBaseUrl'} is set without ${baseURL === undefined ? 'modelBaseUrl' : 'model'}: set both (FLOWCAST_MODEL_BASE_URL, FLOWCAST_MODEL) or neither`,
    )
  return apiKey === undefined ? { baseURL, model } : { baseURL, model, apiKey }
}

/** The flows to serve: the module's, the catalog when asked (or by default without a module), $FLOWCAST_EXTRA_FLOWS. */
async function flowsToServe(
  module: string | undefined,
  config: NodeConfig,
  env: NodeJS.ProcessEnv,
): Promise<TriggerFlow<any>[]> {
  // Checked whether or not the catalog is served: a half-set model is a mistake either way.
  const model = modelOf(config)
  const own = module === undefined ? [] : await loadFlows(module)
  // The older mechanism: a module served beside the catalog (the Redis tests give nodes theirs so).
  const extra = env.FLOWCAST_EXTRA_FLOWS ? await loadFlows(env.FLOWCAST_EXTRA_FLOWS) : []
  const catalog = config.catalog ?? module === undefined
  return [...(catalog ? catalogFlows({ model }) : []), ...own, ...extra]
}

/** `flowcast serve`: starts the node and wires the signals. */
async function serve(module: string | undefined, config: NodeConfig, env: NodeJS.ProcessEnv): Promise<void> {
  const flows = await flowsToServe(module, config, env)
  if (flows.length === 0)
    throw new ConfigError('no flows to serve: give a flows module, or leave the catalog on')
  const logger = pino({ name: 'flowcast', level: config.logLevel!, redact: REDACT })
  const generatedKey = config.auth !== 'off' && config.apiKey === undefined
  const auth =
    config.auth === 'off'
      ? ('off' as const)
      : { apiKey: config.apiKey ?? randomKey(24), secret: config.secret ?? randomKey(32) }
  const server = await startServer({
    port: config.port!,
    host: config.host!,
    auth,
    flows,
    allowedOrigins: config.allowedOrigins!,
    ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
    keyPrefix: config.keyPrefix!,
    limits: limitsOf(config),
    logger,
    // This process is the node's alone, so replacing its web globals is the node's choice to make.
    lightweightWebGlobals: config.lightweightWebGlobals ?? true,
  })
  if (auth === 'off') logger.warn('auth is off: every client may do everything')
  else if (generatedKey)
    process.stderr.write(`flowcast: API key (generated; set FLOWCAST_API_KEY to keep one): ${auth.apiKey}\n`)

  let signals = 0
  const stop = (signal: NodeJS.Signals) => {
    signals++
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    logger.info({ signal, drainTimeoutMs: server.limits.drainTimeoutMs }, 'signal: draining, then closing')
    server
      .drain()
      .then(() => server.close())
      .then(
        () => process.exit(0),
        (err) => {
          logger.error({ err }, 'close failed')
          process.exit(1)
        },
      )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

/** Runs the command line `argv` (without node and the script); resolves once the node listens. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { positionals, flags } = parseCommandLine(argv)
  if (flags.help) {
    process.stdout.write(helpText())
    return
  }
  if (flags.version) {
    process.stdout.write(`${version()}\n`)
    return
  }
  const [command, module, ...rest] = positionals
  if (command !== 'serve')
    throw new ConfigError(`unknown command ${JSON.stringify(command ?? '')}: try flowcast --help`)
  if (rest.length > 0) throw new ConfigError(`serve takes one flows module, got also: ${rest.join(' ')}`)
  await serve(module, readConfig(flags, env), env)
}

/** Runs `argv` as the process's command line: a refused setting is one line on stderr and exit code 2. */
export function runCommandLine(argv: string[]): void {
  main(argv).catch((err: unknown) => {
    const message =
      err instanceof ConfigError
        ? err.message
        : err instanceof Error
          ? (err.stack ?? err.message)
          : String(err)
    process.stderr.write(`flowcast: ${message}\n`)
    process.exit(2)
  })
}
