/**
 * Structured logging (pino). Credentials never reach a log line: URLs are logged through
 * `redactUrl`, and pino's redaction drops any `token`, `apiKey` or `authorization` field as a
 * second line of defence.
 */
import { type Logger, pino } from 'pino'

/** The default logger: stdout, level from $LOG_LEVEL (default info; silent under vitest). */
export function defaultLogger(): Logger {
  const level = process.env.LOG_LEVEL || (process.env.VITEST ? 'silent' : 'info')
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

/** `url` with its credentials (`user:password@`, every `token` query parameter) replaced, for logs. */
export function redactUrl(url: string | undefined): string {
  if (!url) return ''
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1[redacted]@')
    .replace(/([?&]token=)[^&#]*/gi, '$1[redacted]')
}
