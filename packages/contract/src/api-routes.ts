/** One route of the job API. */
export interface ApiRoute {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** API Gateway path, with `{id}` parameters. */
  readonly path: string;
  /** Name of the file in packages/api/src/handlers (and of the Lambda function). */
  readonly handler: 'create-upload' | 'create-job' | 'get-job' | 'list-jobs' | 'cancel-job' | 'openapi';
  /** Public routes have no JWT authorizer. */
  readonly public?: boolean;
}

/**
 * The API's routes. One table for the CDK app (HTTP API routes), the local server (its router) and the OpenAPI
 * document, so the deployed and the local API cannot drift apart.
 */
export const API_ROUTES: readonly ApiRoute[] = [
  { method: 'POST', path: '/uploads', handler: 'create-upload' },
  { method: 'POST', path: '/jobs', handler: 'create-job' },
  { method: 'GET', path: '/jobs', handler: 'list-jobs' },
  { method: 'GET', path: '/jobs/{id}', handler: 'get-job' },
  { method: 'DELETE', path: '/jobs/{id}', handler: 'cancel-job' },
  { method: 'GET', path: '/openapi.json', handler: 'openapi', public: true },
];
