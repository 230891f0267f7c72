/** Types of scripts/client-size.mjs, for the tests that call it. */
export interface ClientSize {
  bytes: number
  gzipBytes: number
  inputs: { path: string; bytes: number }[]
  code: string
}
export declare const SIZE_ENTRIES: Record<'core' | 'isFlowcastError only', string>
/** Bundles `contents` (an ES module importing the SDK) and measures it with the metafile. */
export declare function measureClientSize(contents: string): Promise<ClientSize>
/** One line per entry: minified and gzipped KiB, and its largest inputs. */
export declare function formatSize(name: string, size: ClientSize): string
