#!/usr/bin/env node
/**
 * The `flowcast` bin: runs the command line and turns a refused setting into one line on stderr
 * and exit code 2 (anything else unexpected prints its stack, also with 2).
 */
import { ConfigError } from '../config/sources.ts'
import { main } from './run.ts'

main(process.argv.slice(2)).catch((err: unknown) => {
  const message =
    err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)
  process.stderr.write(`flowcast: ${message}\n`)
  process.exit(2)
})
