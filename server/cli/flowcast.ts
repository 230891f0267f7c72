#!/usr/bin/env node
/**
 * The `flowcast` bin: runs the command line (see run.ts); a refused setting prints one line on
 * stderr and exits 2.
 */
import { runCommandLine } from './run.ts'

runCommandLine(process.argv.slice(2))
