// The OpenAPI document, built from contract's route table and zod schemas only: a route added to API_ROUTES appears
// here with no edit. It runs at build time (scripts/build-openapi.ts, which the CDK app runs when it bundles the
// openapi Lambda) and in the local server, never in a Lambda: zod's JSON Schema code is most of a 500 KB bundle.
import { API_ROUTES, problemSchema, type ApiBody, type ApiRoute, type ApiRouteError, type ApiRouteResponse } from '@revive/contract';
import { z } from 'zod';

/** The document's `info.version`: the version of the API's contract, not of the packages. */
export const API_VERSION = '1.0.0';

/** An OpenAPI document as JSON. It has no `servers`: the handler adds the URL the caller used. */
export type OpenApiDocument = Readonly<Record<string, unknown>>;

type JsonSchema = Record<string, unknown>;
type Io = 'input' | 'output';

const PROBLEM = 'Problem';
/** API Gateway's own answers (throttling, the JWT authorizer): `{"message": "..."}`, not problem+json. */
const GATEWAY_MESSAGE = 'GatewayMessage';
const GATEWAY_MESSAGE_SCHEMA: JsonSchema = {
  type: 'object',
  description: "API Gateway's own error body",
  properties: { message: { type: 'string' } },
  required: ['message'],
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/**
 * JSON Schema 2020-12 (OpenAPI 3.1's dialect) of a zod schema: `input` for what the API accepts (defaults make a
 * field optional), `output` for what it returns.
 */
function jsonSchema(schema: z.ZodType, io: Io): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

/** `components.schemas`, filled as routes name their bodies; one name never stands for two schemas. */
class Components {
  readonly #entries = new Map<string, { schema: z.ZodType; io: Io; json: JsonSchema }>();

  ref(body: ApiBody, io: Io): { $ref: string } {
    if (body.name === PROBLEM || body.name === GATEWAY_MESSAGE) throw new Error(`OpenAPI: the component name ${body.name} is taken by the error bodies`);
    const known = this.#entries.get(body.name);
    if (known === undefined) {
      this.#entries.set(body.name, { schema: body.schema, io, json: jsonSchema(body.schema, io) });
    } else if (known.schema !== body.schema || known.io !== io) {
      throw new Error(`OpenAPI: the component name ${body.name} is given to two different schemas (or to one as request and response)`);
    }
    return ref(body.name);
  }

  toJSON(): Record<string, JsonSchema> {
    return Object.fromEntries([...this.#entries].map(([name, entry]) => [name, entry.json]));
  }
}

/** The `{name}`s of an API Gateway path. */
function pathNames(path: string): string[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!);
}

/** One OpenAPI parameter per property of a zod object; a property's `description` becomes the parameter's. */
function parametersOf(object: z.ZodObject | undefined, location: 'path' | 'query' | 'header'): JsonSchema[] {
  if (object === undefined) return [];
  const schema = jsonSchema(object, 'input');
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: location,
      required: location === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

function parameters(route: ApiRoute): JsonSchema[] {
  const declared = Object.keys(route.pathParameters?.shape ?? {}).sort();
  const inPath = pathNames(route.path).sort();
  if (declared.join() !== inPath.join()) {
    throw new Error(`OpenAPI: ${route.method} ${route.path} declares path parameters [${declared.join(', ')}], its path has [${inPath.join(', ')}]`);
  }
  return [...parametersOf(route.pathParameters, 'path'), ...parametersOf(route.query, 'query'), ...parametersOf(route.headers, 'header')];
}

function headersOf(headers: Readonly<Record<string, string>> | undefined): JsonSchema | undefined {
  if (headers === undefined || Object.keys(headers).length === 0) return undefined;
  return Object.fromEntries(Object.entries(headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }]));
}

function successResponse(response: ApiRouteResponse, components: Components): JsonSchema {
  const headers = headersOf(response.headers);
  return {
    description: response.description,
    ...(headers === undefined ? {} : { headers }),
    content: { 'application/json': response.body === undefined ? {} : { schema: components.ref(response.body, 'output') } },
  };
}

/**
 * The route's problem+json answers, one response per status: its description lists each code and when it comes, its
 * schema narrows `code` to those codes.
 */
function errorResponses(errors: readonly ApiRouteError[]): Record<string, JsonSchema> {
  const byStatus = new Map<number, ApiRouteError[]>();
  for (const error of errors) byStatus.set(error.status, [...(byStatus.get(error.status) ?? []), error]);
  const responses: Record<string, JsonSchema> = {};
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    const codes = [...new Set(group.map((error) => error.code))];
    const headers = headersOf(Object.assign({}, ...group.map((error) => error.headers ?? {})) as Record<string, string>);
    responses[String(status)] = {
      description: group.map((error) => `\`${error.code}\`: ${error.when}.`).join('\n\n'),
      ...(headers === undefined ? {} : { headers }),
      content: {
        'application/problem+json': {
          schema: { allOf: [ref(PROBLEM), { type: 'object', properties: { code: { enum: codes } } }] },
        },
      },
    };
  }
  return responses;
}

/** What API Gateway answers before the handler runs: its JWT authorizer (protected routes) and its throttling. */
function addGatewayResponses(responses: Record<string, JsonSchema>, route: ApiRoute): void {
  const gateway = { 'application/json': { schema: ref(GATEWAY_MESSAGE) } };
  if (!route.public) {
    const handler = responses['401'];
    const byAuthorizer = "API Gateway's JWT authorizer: no `Authorization: Bearer` token, or one that is expired or not for this API.";
    responses['401'] = {
      description: handler === undefined ? byAuthorizer : `${String(handler.description)}\n\n${byAuthorizer}`,
      ...(handler?.headers === undefined ? {} : { headers: handler.headers }),
      content: { ...((handler?.content ?? {}) as JsonSchema), ...gateway },
    };
  }
  responses['429'] = {
    description: "Throttled by API Gateway (each route has its own rate); retry after a pause.",
    content: gateway,
  };
}

function operation(route: ApiRoute, components: Components): JsonSchema {
  const params = parameters(route);
  const responses: Record<string, JsonSchema> = {};
  for (const response of route.responses) responses[String(response.status)] = successResponse(response, components);
  Object.assign(responses, errorResponses(route.errors));
  addGatewayResponses(responses, route);
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description === undefined ? {} : { description: route.description }),
    ...(route.public ? { security: [] } : {}),
    ...(params.length === 0 ? {} : { parameters: params }),
    ...(route.requestBody === undefined
      ? {}
      : { requestBody: { required: route.requestBody.required, content: { 'application/json': { schema: components.ref(route.requestBody, 'input') } } } }),
    responses,
  };
}

/**
 * The OpenAPI 3.1 document of `routes` (JSON Schema 2020-12 from contract's zod schemas), without `servers`.
 * @default routes API_ROUTES
 */
export function buildOpenApiDocument(routes: readonly ApiRoute[] = API_ROUTES): OpenApiDocument {
  const components = new Components();
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const operationIds = new Set<string>();
  for (const route of routes) {
    const method = route.method.toLowerCase();
    const item = (paths[route.path] ??= {});
    if (item[method] !== undefined) throw new Error(`OpenAPI: ${route.method} ${route.path} is in the route table twice`);
    if (operationIds.has(route.operationId)) throw new Error(`OpenAPI: operationId ${route.operationId} is used twice`);
    operationIds.add(route.operationId);
    item[method] = operation(route, components);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Revive job API',
      version: API_VERSION,
      description: [
        'Face restoration jobs: upload a photo (POST /uploads), create a job (POST /jobs), then poll it or receive a webhook.',
        'Errors are RFC 9457 `application/problem+json` with a stable `code` (the Problem schema lists every code); each operation lists the codes it answers, by status.',
        'API Gateway answers some requests itself with `{"message": "..."}` JSON instead: a missing or invalid JWT (401), throttling (429), a path with no route (404), a body over 10 MB (413) and a handler that times out (5xx).',
      ].join('\n\n'),
    },
    security: [{ jwt: [] }],
    paths,
    components: {
      securitySchemes: { jwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { ...components.toJSON(), [PROBLEM]: jsonSchema(problemSchema, 'output'), [GATEWAY_MESSAGE]: GATEWAY_MESSAGE_SCHEMA },
    },
  };
}
