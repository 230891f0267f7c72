/**
 * @flowcast/protocol: the one definition of what crosses a process boundary — WebSocket frames,
 * HTTP bodies, error codes, close codes and statuses. Imports nothing but zod, so the server, the
 * engine, the client SDK and the watch page can all share it, in Node and in browsers.
 */
export * from './codes.ts'
export * from './errors.ts'
export * from './flow-types.ts'
export * from './frames.ts'
export * from './server-frames.ts'
export * from './status.ts'
