// Lambda entry of `GET /openapi.json` (CDK's NodejsFunction bundles this file): it wires only the adapters the route
// uses: none, so the bundle carries no AWS SDK client.
import { lambdaDeps, toHandler } from '../handler.js';
import { openapi } from '../handlers/openapi.js';

export const handler = toHandler('openapi', openapi, lambdaDeps({}));
