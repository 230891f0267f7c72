/**
 * Structured logging (pino). Credentials never reach a log line: URLs are logged through
 * `redactUrl`, and pino's redaction drops any `token`, `apiKey` or `authorization` field as a
 * second line of defence.
 */
import { type Logger, pino } from 'pino'
import { envKeyOf, readSetting } from './config/sources.ts'

/**
 * The default logger of `startServer` without one: stdout, at the `logLevel` setting's level from
 * the environment (`FLOWCAST_LOG_LEVEL`, `LOG_LEVEL`; a bad value is refused like everywhere),
 * default info, and silent under vitest unless a level is set (the tests' own output stays readable).
 */
export function defaultLogger(): Logger {
  const env = process.env
  const silent = env.VITEST && envKeyOf('logLevel', env) === undefined
  const level = silent ? 'silent' : readSetting('logLevel', {}, env)!
  return pino({ name: 'flowcast', level, redact: REDACT })
}

/** Field paths pino censors; use them for custom loggers too. */
export const REDACT = {
  paths: [
    'token',
    'apiKey',
    'secret',
    'authorization',
    '*.token',
    '*.apiKey',
    '*.secret',
    '*.authorization',
    'headers.authorization',
    '*.headers.authorization',
  ],
  censor: '[redacted]',
}

/** `url` with its credentials (`user:password@`, every `token` and `ticket` query parameter) replaced, for logs. */
export function redactUrl(url: string | undefined): string {
  if (!url) return ''
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1[redacted]@')
    .replace(/([?&](?:token|ticket)=)[^&#]*/gi, '$1[redacted]')
}
