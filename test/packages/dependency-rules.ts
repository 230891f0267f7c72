/**
 * flowcast's dependency rules, as data for test/packages/import-graph.ts: which package may import
 * which, the layers inside a package, and the one dynamic import allowed to leave its package.
 */
import type { Exemption, UnitRules } from './import-graph.ts'

/** The rules of this repository, bottom package first. */
export const RULES: UnitRules[] = [
  { dir: 'protocol', only: ['zod'], browser: true },
  {
    dir: 'flows',
    forbid: ['@flowcast/server', '@flowcast/client'],
    layers: ['triggerflow', 'instant', 'catalog', 'index.ts'],
  },
  // A flow's types may reach the client through `import type`; its code never does.
  { dir: 'client-sdk', forbid: ['@flowcast/server'], typesOnly: ['@flowcast/flows'], browser: true },
  {
    dir: 'server',
    forbid: ['@flowcast/client'],
    // Shared parts at the bottom (the root's options, registry, log, metrics; config, auth, brokers),
    // then rooms, then the transports over them, then the wiring and the executables.
    layers: [['.', 'config', 'auth', 'brokers'], 'fanout', 'ws', 'http', 'index.ts', ['cli', 'main.ts']],
    aboveIndex: ['main.ts', 'cli'],
  },
  // The watch page: browser code bundled with the SDK at build time, not part of the server's JavaScript.
  {
    dir: 'server/watch-page',
    forbid: ['@flowcast/server'],
    typesOnly: ['@flowcast/flows'],
    browser: true,
    bundled: true,
  },
]

/**
 * In a source checkout the server builds a missing or stale browser bundle with the repository's
 * own script. The built package ships its bundles in dist/public and never takes this path (the
 * packed-tarball test runs the server with no scripts/ beside it).
 */
export const EXEMPTIONS: Exemption[] = [
  {
    from: /^server\//,
    specifier: /^(\.\.\/)+scripts\/build-client\.mjs$/,
    why: 'dev-only bundle rebuild',
  },
]
