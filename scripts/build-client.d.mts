/** Types of scripts/build-client.mjs, for the TypeScript modules (the server) that call it. */
export declare const DEFAULT_CLIENT_BUNDLE: string
/** Bundles client-sdk/index.ts for browsers into `outFile`; resolves with its minified and gzipped sizes. */
export declare function buildClientBundle(
  outFile?: string,
): Promise<{ outFile: string; bytes: number; gzipBytes: number }>
