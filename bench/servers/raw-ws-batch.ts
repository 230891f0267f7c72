/** The `ws-batch` target: servers/raw-ws.ts batching one `events` frame per room per event-loop turn. */
process.env.BENCH_WS_BATCH = '1'
await import('./raw-ws.ts')
