import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// Tests run against the packages' TypeScript sources, not their built dist/: the same mapping as
// tsconfig.json's `paths`, so a test never sees a stale build.
const src = (path: string) => fileURLToPath(new URL(path, import.meta.url))

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@flowcast\/protocol$/, replacement: src('./protocol/index.ts') },
      { find: /^@flowcast\/flows\/catalog$/, replacement: src('./flows/catalog/index.ts') },
      { find: /^@flowcast\/flows\/ai$/, replacement: src('./flows/instant/ai-sdk.ts') },
      { find: /^@flowcast\/flows$/, replacement: src('./flows/index.ts') },
      { find: /^@flowcast\/client\/react$/, replacement: src('./client-sdk/react.ts') },
      { find: /^@flowcast\/client$/, replacement: src('./client-sdk/index.ts') },
      { find: /^@flowcast\/server$/, replacement: src('./server/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real sockets and child processes: keep parallelism modest on a 2-core machine.
    maxWorkers: 2,
    typecheck: { enabled: false },
  },
})
