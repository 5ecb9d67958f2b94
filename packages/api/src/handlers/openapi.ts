// `GET /openapi.json`. The Lambda entry (src/lambda/openapi.ts) serves the document built at bundling time; the local
// server and the tests serve one built at start (routes.ts). Both from contract's API_ROUTES, through this logic.
import type { Observability, RouteLogic } from '../app.js';
import { baseUrl, json } from '../http/event.js';
import type { OpenApiDocument } from '../openapi.js';

/** How long clients and caches may keep the document: it changes only with a deployment. */
export const OPENAPI_MAX_AGE_SECONDS = 300;

/** `GET /openapi.json`: `document` with the URL the caller used as its one server. */
export function serveOpenApi(document: OpenApiDocument): RouteLogic<Observability> {
  const { openapi, info, ...rest } = document;
  return async (event) =>
    json(200, { openapi, info, servers: [{ url: baseUrl(event) }], ...rest }, { 'cache-control': `public, max-age=${OPENAPI_MAX_AGE_SECONDS}` });
}
