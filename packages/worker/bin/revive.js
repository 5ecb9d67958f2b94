#!/usr/bin/env node
// The installed CLI runs the esbuild bundle (`pnpm --filter @revive/worker build`); in the repo use `pnpm revive`.
await import('../dist/revive.mjs');
