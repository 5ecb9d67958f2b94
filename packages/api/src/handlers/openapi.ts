// `GET /openapi.json`; the Lambda entry is src/lambda/openapi.ts.
import type { BaseDeps, RouteLogic } from '../app.js';
import { baseUrl, json } from '../http/event.js';
import { buildOpenApiDocument } from '../openapi.js';

/** `GET /openapi.json`: generated from the zod schemas, so it cannot drift from what the handlers validate. */
export const openapi: RouteLogic<BaseDeps> = async (event) => json(200, buildOpenApiDocument(baseUrl(event)), { 'cache-control': 'public, max-age=300' });
