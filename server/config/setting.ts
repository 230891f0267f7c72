/**
 * What one setting is: a zod schema for its value, its default, one line of documentation, and
 * how it is spelt as text (an environment variable or a CLI flag). Every configuration source
 * (`startServer` options, env, flags) is checked against the same schema, so a value is valid in
 * one place exactly when it is valid in all.
 */
import { z } from 'zod'

/** How a value is written as text, for the env, the flags and the reference table. */
export type SettingKind = 'integer' | 'string' | 'origins' | 'boolean' | 'choice'

/** One setting's definition; the name is its key in the table that holds it. */
export interface Setting<T = unknown> {
  readonly kind: SettingKind
  /** The value's schema, applied to every source after its text has been read. */
  readonly schema: z.ZodType<T>
  /** Undefined: the setting has no default (unset means "not configured"). */
  readonly default: T | undefined
  /** One line for `--help` and the README reference. */
  readonly doc: string
  /** How the table shows the default, when the value alone would not say it (bytes, ms, "generated"). */
  readonly defaultText?: string
  /** Environment names read after `FLOWCAST_<NAME>`, kept because deployments already use them. */
  readonly aliases?: readonly string[]
  /** Its value never appears in errors, `--help` or logs. */
  readonly secret?: boolean
  /** The values of a `choice`. */
  readonly choices?: readonly string[]
}

const MiB = 1024 * 1024

/** "64 KiB", "1 MiB", "1000 B". */
function bytesText(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`
  return `${n} B`
}

/** "30 s", "1 h", "20 ms". */
function msText(n: number): string {
  if (n >= 3_600_000 && n % 3_600_000 === 0) return `${n / 3_600_000} h`
  if (n >= 60_000 && n % 60_000 === 0) return `${n / 60_000} min`
  if (n >= 1000 && n % 1000 === 0) return `${n / 1000} s`
  return `${n} ms`
}

/** A whole number of at least `min` (1 unless said); `unit` only changes how the default reads. */
export function integer(
  defaultValue: number,
  doc: string,
  options: { min?: number; max?: number; unit?: 'bytes' | 'ms'; aliases?: string[] } = {},
): Setting<number> {
  const min = options.min ?? 1
  const max = options.max ?? Number.MAX_SAFE_INTEGER
  const unitText = options.unit === 'bytes' ? bytesText : options.unit === 'ms' ? msText : undefined
  return {
    kind: 'integer',
    schema: z.number().int().min(min).max(max),
    default: defaultValue,
    doc,
    ...(unitText ? { defaultText: unitText(defaultValue) } : {}),
    ...(options.aliases ? { aliases: options.aliases } : {}),
  }
}

/** A non-empty string. */
export function text(
  defaultValue: string | undefined,
  doc: string,
  options: { aliases?: string[]; secret?: boolean; defaultText?: string } = {},
): Setting<string> {
  return {
    kind: 'string',
    schema: z.string().min(1),
    default: defaultValue,
    doc,
    ...(options.defaultText ? { defaultText: options.defaultText } : {}),
    ...(options.aliases ? { aliases: options.aliases } : {}),
    ...(options.secret ? { secret: true } : {}),
  }
}

/** One of `values`. */
export function choice<const V extends string>(
  values: readonly V[],
  defaultValue: V | undefined,
  doc: string,
  options: { aliases?: string[]; defaultText?: string } = {},
): Setting<V> {
  return {
    kind: 'choice',
    schema: z.enum(values as unknown as [V, ...V[]]),
    default: defaultValue,
    doc,
    choices: values,
    ...(options.defaultText ? { defaultText: options.defaultText } : {}),
    ...(options.aliases ? { aliases: options.aliases } : {}),
  }
}

/** true or false (as text: true/false, 1/0, on/off, yes/no). */
export function flag(defaultValue: boolean | undefined, doc: string, defaultText?: string): Setting<boolean> {
  return {
    kind: 'boolean',
    schema: z.boolean(),
    default: defaultValue,
    doc,
    ...(defaultText ? { defaultText } : {}),
  }
}

/** An origin: scheme, host and optional port, nothing after. */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+$/i

/** `'*'` or a list of origins (as text: `*` or a comma-separated list). */
export function origins(defaultValue: '*' | string[], doc: string): Setting<'*' | string[]> {
  return {
    kind: 'origins',
    schema: z.union([
      z.literal('*'),
      z
        .array(z.string().regex(ORIGIN, 'an origin is scheme://host[:port], e.g. https://app.example.com'))
        .min(1),
    ]),
    default: defaultValue,
    doc,
  }
}

/** `maxLiveExecutions` -> `max-live-executions`. */
export function flagName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

/** `maxLiveExecutions` -> `FLOWCAST_MAX_LIVE_EXECUTIONS`. */
export function envName(name: string): string {
  return `FLOWCAST_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
}

/** How the reference shows a setting's default. */
export function defaultText(setting: Setting): string {
  if (setting.defaultText !== undefined) return setting.defaultText
  if (setting.default === undefined) return '(unset)'
  if (Array.isArray(setting.default)) return setting.default.join(',')
  return String(setting.default)
}
