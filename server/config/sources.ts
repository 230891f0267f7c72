/**
 * Reads every setting from CLI flags and the environment, in that order of precedence (a flag,
 * then `FLOWCAST_<NAME>`, then an older alias such as `PORT`, then the default), and checks each
 * value against its definition. A bad value is a ConfigError naming the setting and where it came
 * from; a secret's value never appears in the message.
 */
import { parseArgs } from 'node:util'
import type { z } from 'zod'
import { envName, flagName, type Setting } from './setting.ts'
import { SETTINGS, type SettingName } from './settings.ts'

/** The value type of setting `K`. */
type ValueOf<K extends SettingName> = (typeof SETTINGS)[K] extends Setting<infer T> ? T : never

/** Every setting of a node, read; undefined where it has no default and was not given. */
export type NodeConfig = { [K in SettingName]: ValueOf<K> | undefined }

/** A setting with a bad value (or an unknown flag); the message says which and why. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

/** The flags `parseArgs` knows: one per setting (booleans also as `--no-<flag>`), plus help and version. */
export function flagOptions(): NonNullable<Parameters<typeof parseArgs>[0]>['options'] {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  }
  for (const [name, setting] of Object.entries(SETTINGS) as [string, Setting][]) {
    if (setting.kind === 'boolean') {
      options[flagName(name)] = { type: 'boolean' }
      options[`no-${flagName(name)}`] = { type: 'boolean' }
    } else options[flagName(name)] = { type: 'string' }
  }
  return options
}

/** The parsed command line: positionals, and each flag's raw value by flag name. */
export interface ParsedArgs {
  positionals: string[]
  flags: Record<string, string | boolean | undefined>
}

/** Splits argv (without node and the script) into positionals and flags; unknown flags throw. */
export function parseCommandLine(argv: string[]): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: flagOptions(),
      allowPositionals: true,
      strict: true,
    })
    return { positionals, flags: { ...values } as ParsedArgs['flags'] }
  } catch (err) {
    // parseArgs' own message already names the flag ("Unknown option '--prot'").
    throw new ConfigError(err instanceof Error ? err.message : String(err))
  }
}

const TRUE = new Set(['true', '1', 'on', 'yes'])
const FALSE = new Set(['false', '0', 'off', 'no'])

/** Turns one text value into the setting's value type; undefined text means "not given". */
function fromText(setting: Setting, raw: string): unknown {
  switch (setting.kind) {
    case 'integer':
      // Number('') is 0 and Number('1e3') is 1000: only plain digits are a whole number here.
      if (!/^\d+$/.test(raw.trim())) throw new Error('must be a whole number')
      return Number(raw.trim())
    case 'boolean': {
      const v = raw.trim().toLowerCase()
      if (TRUE.has(v)) return true
      if (FALSE.has(v)) return false
      throw new Error('must be true or false')
    }
    case 'origins': {
      if (raw.trim() === '*') return '*'
      return raw
        .split(',')
        .map((o) => o.trim())
        .filter((o) => o !== '')
    }
    default:
      return raw
  }
}

/** "must be at least 1" out of a zod error, without the value when it is secret. */
function describeIssue(error: z.ZodError): string {
  return error.issues.map((i) => i.message).join('; ')
}

/** Checks `value` against setting `name`, throwing a ConfigError that says where it came from. */
export function checkSetting(name: string, setting: Setting, value: unknown, source: string): unknown {
  const parsed = setting.schema.safeParse(value)
  if (parsed.success) return parsed.data
  const shown = setting.secret ? '' : ` (${JSON.stringify(value)})`
  throw new ConfigError(`invalid ${name} from ${source}${shown}: ${describeIssue(parsed.error)}`)
}

/** The environment variable that sets `name` in `env` (its FLOWCAST_ name first, then its aliases), if any. */
export function envKeyOf(name: SettingName, env: NodeJS.ProcessEnv): string | undefined {
  const aliases: readonly string[] = (SETTINGS[name] as Setting).aliases ?? []
  return [envName(name), ...aliases].find((key) => env[key] !== undefined && env[key] !== '')
}

/**
 * One setting from `flags` (by flag name, as parseCommandLine gives them) and `env`, else its
 * default. An empty environment value counts as unset, as the older names always did.
 */
export function readSetting<K extends SettingName>(
  name: K,
  flags: ParsedArgs['flags'],
  env: NodeJS.ProcessEnv,
): ValueOf<K> | undefined {
  const setting: Setting = SETTINGS[name]
  const flag = flagName(name)
  let value: unknown
  let source: string | undefined
  if (setting.kind === 'boolean' && (flags[flag] !== undefined || flags[`no-${flag}`] !== undefined)) {
    if (flags[flag] && flags[`no-${flag}`]) throw new ConfigError(`--${flag} and --no-${flag} both given`)
    value = flags[flag] === true
    source = flags[flag] ? `--${flag}` : `--no-${flag}`
  } else if (typeof flags[flag] === 'string') {
    source = `--${flag}`
    value = flags[flag]
  } else {
    source = envKeyOf(name, env)
    if (source !== undefined) value = env[source]
  }
  if (source === undefined) return setting.default as ValueOf<K> | undefined
  if (typeof value === 'string') {
    try {
      value = fromText(setting, value)
    } catch (err) {
      const shown = setting.secret ? '' : ` (${JSON.stringify(value)})`
      throw new ConfigError(`invalid ${name} from ${source}${shown}: ${(err as Error).message}`)
    }
  }
  return checkSetting(name, setting, value, source) as ValueOf<K>
}

/** Every setting from `flags` and `env` (see readSetting). */
export function readConfig(flags: ParsedArgs['flags'], env: NodeJS.ProcessEnv): NodeConfig {
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(SETTINGS) as SettingName[]) out[name] = readSetting(name, flags, env)
  return out as NodeConfig
}
