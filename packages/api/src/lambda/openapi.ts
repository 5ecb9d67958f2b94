// Lambda entry of `GET /openapi.json` (CDK's NodejsFunction bundles this file). The document is not built here: the
// CDK app's bundling runs scripts/build-openapi.ts, which writes it as OPENAPI_DOCUMENT_FILE beside the bundle, so the
// function carries neither zod nor the contract's schemas (508 KB of the bundle when it built the document itself)
// and reads no configuration.
import { readFileSync } from 'node:fs';
import { OPENAPI_DOCUMENT_FILE } from '@revive/contract/openapi-document';
import type { Observability } from '../app.js';
import { createObservability, toHandler } from '../handler.js';
import { serveOpenApi } from '../handlers/openapi.js';
import type { OpenApiDocument } from '../openapi.js';

// Read at cold start: a function deployed without its document fails to start instead of answering 500s.
const document = JSON.parse(readFileSync(new URL(`./${OPENAPI_DOCUMENT_FILE}`, import.meta.url), 'utf8')) as OpenApiDocument;
let observability: Observability | undefined;

export const handler = toHandler('openapi', serveOpenApi(document), () => (observability ??= createObservability(process.env)));
