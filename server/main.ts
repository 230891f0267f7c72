/**
 * `npm start`: `flowcast serve` from the sources: the catalog flows (plus the module that
 * $FLOWCAST_EXTRA_FLOWS names, which the Redis tests use to give spawned nodes test-only flows),
 * every setting from the environment or flags (`npm start -- --help`), JSON log lines on stdout,
 * drain on SIGTERM/SIGINT. See server/cli/run.ts.
 */
import { runCommandLine } from './cli/run.ts'

runCommandLine(['serve', ...process.argv.slice(2)])
