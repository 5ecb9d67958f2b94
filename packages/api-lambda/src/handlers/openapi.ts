// Lambda entry point for `GET /openapi.json` (bundled by CDK's NodejsFunction).
import { defaultDeps, toHandler, type RouteLogic } from '../app.js';
import { baseUrl, json } from '../http/event.js';
import { buildOpenApiDocument } from '../openapi.js';

/** `GET /openapi.json`: generated from the zod schemas, so it cannot drift from what the handlers validate. */
export const openapi: RouteLogic = async (event) => json(200, buildOpenApiDocument(baseUrl(event)), { 'cache-control': 'public, max-age=300' });

export const handler = toHandler('openapi', openapi, defaultDeps);
