/** Types of scripts/build-client.mjs, for the TypeScript modules (the server) that call it. */
export interface BuiltBundle {
  outFile: string
  bytes: number
  gzipBytes: number
}
export declare const DEFAULT_CLIENT_BUNDLE: string
export declare const DEFAULT_PAGE_BUNDLE: string
/** Bundles client-sdk/index.ts for browsers into `outFile`; resolves with its minified and gzipped sizes. */
export declare function buildClientBundle(outFile?: string): Promise<BuiltBundle>
/** Bundles the watch page (server/watch-page/main.ts with the SDK) into `outFile`; resolves with its sizes. */
export declare function buildPageBundle(outFile?: string): Promise<BuiltBundle>
