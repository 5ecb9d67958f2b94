// Writes the OpenAPI document, built from contract's API_ROUTES, as JSON to the path given (default dist/openapi.json).
// `pnpm -C packages/api build` runs it, and so does the CDK app when it bundles the openapi Lambda (an afterBundling
// hook in packages/infra/src/api.ts writes it beside the bundle): the deployed document is built from the same sources
// as the bundle, never a stale copy.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { buildOpenApiDocument } from '../src/openapi.js';

const out = resolve(process.argv[2] ?? join(import.meta.dirname, '../dist/openapi.json'));
const text = JSON.stringify(buildOpenApiDocument());
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, text);
console.log(`OpenAPI document: ${out} (${(Buffer.byteLength(text) / 1024).toFixed(1)} KB)`);
