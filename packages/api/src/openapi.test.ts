import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import { API_ERROR_CODES, API_ROUTES, DEFAULT_LIST_LIMIT, jobIdSchema, jobResponseSchema, MAX_LIST_LIMIT, type ApiRoute } from '@revive/contract';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { serveOpenApi } from './handlers/openapi.js';
import { buildOpenApiDocument } from './openapi.js';

type Operation = {
  operationId: string;
  security?: unknown[];
  parameters?: { name: string; in: string; required: boolean; description?: string; schema: Record<string, unknown> }[];
  requestBody?: { required: boolean; content: Record<string, { schema: { $ref: string } }> };
  responses: Record<string, { description: string; headers?: Record<string, unknown>; content: Record<string, { schema?: { $ref?: string; allOf?: [unknown, { properties: { code: { enum: string[] } } }] } }> }>;
};
type Doc = { openapi: string; servers?: unknown; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, { properties?: Record<string, { enum?: string[] }>; additionalProperties?: boolean }> } };

const doc = buildOpenApiDocument() as unknown as Doc;
const operationOf = (d: Doc, route: Pick<ApiRoute, 'method' | 'path'>) => d.paths[route.path]?.[route.method.toLowerCase()];

/** A route a later version might add: the document must show it without any edit to openapi.ts. */
const retryRoute = {
  method: 'POST',
  path: '/jobs/{id}/retry',
  handler: 'get-job',
  operationId: 'retryJob',
  summary: 'Retry a FAILED job',
  pathParameters: z.object({ id: jobIdSchema }),
  responses: [{ status: 202, description: 'The job, QUEUED again.', body: { name: 'Job', schema: jobResponseSchema } }],
  errors: [
    { code: 'JOB_NOT_FOUND', status: 404, when: 'no such job' },
    { code: 'JOB_NOT_CANCELABLE', status: 409, when: 'the job is not FAILED' },
    { code: 'INTERNAL', status: 500, when: 'a bug' },
  ],
} as const satisfies ApiRoute;

describe('buildOpenApiDocument', () => {
  it('is a valid OpenAPI 3.1 document (the specification schema, every $ref resolved)', async () => {
    expect(doc.openapi).toBe('3.1.0');
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  it('has every route of the table, under its operationId, public only where the table says so', () => {
    const inDoc = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    expect(inDoc.sort()).toEqual(API_ROUTES.map((route) => `${route.method} ${route.path}`).sort());
    for (const route of API_ROUTES) {
      const op = operationOf(doc, route)!;
      expect(op.operationId).toBe(route.operationId);
      expect(op.security).toEqual(route.public ? [] : undefined);
    }
  });

  it("lists each route's error codes under their status, and only those", () => {
    for (const route of API_ROUTES) {
      const op = operationOf(doc, route)!;
      const statuses = [...new Set(route.errors.map((error) => String(error.status)))];
      for (const status of statuses) {
        const codes = route.errors.filter((error) => String(error.status) === status).map((error) => error.code);
        const problem = op.responses[status]?.content['application/problem+json']?.schema?.allOf?.[1].properties.code.enum;
        expect(problem, `${route.operationId} ${status}`).toEqual([...new Set(codes)]);
        for (const code of codes) expect(op.responses[status]!.description).toContain(`\`${code}\``);
      }
      const documented = Object.keys(op.responses).filter((status) => op.responses[status]!.content['application/problem+json'] !== undefined);
      expect(documented.sort()).toEqual(statuses.sort());
    }
    // The Problem schema itself knows every code.
    expect(doc.components.schemas.Problem?.properties?.code?.enum).toEqual([...API_ERROR_CODES]);
  });

  it("adds API Gateway's own answers: its authorizer's 401 on protected routes, its throttling's 429 everywhere", () => {
    for (const route of API_ROUTES) {
      const op = operationOf(doc, route)!;
      expect(op.responses['429']?.content['application/json']?.schema?.$ref).toBe('#/components/schemas/GatewayMessage');
      expect(op.responses['401']?.content['application/json']?.schema?.$ref).toBe(route.public ? undefined : '#/components/schemas/GatewayMessage');
    }
  });

  it('takes parameters and bodies from the zod schemas the handlers validate with', () => {
    const list = operationOf(doc, { method: 'GET', path: '/jobs' })!;
    const limit = list.parameters?.find((p) => p.name === 'limit');
    expect(limit).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT } });
    expect(list.parameters?.map((p) => p.name).sort()).toEqual(['cursor', 'limit']);
    const get = operationOf(doc, { method: 'GET', path: '/jobs/{id}' })!;
    expect(get.parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: z.toJSONSchema(jobIdSchema).pattern } })]);
    const create = operationOf(doc, { method: 'POST', path: '/jobs' })!;
    expect(create.parameters).toEqual([expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false })]);
    expect(create.requestBody).toEqual({ required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateJobRequest' } } } });
    expect(create.responses['202']?.headers).toHaveProperty('Location');
    expect(operationOf(doc, { method: 'POST', path: '/uploads' })!.requestBody?.required).toBe(false);
    // Strict request schemas: an unknown field is a 400 UNKNOWN_FIELD, and the document says so.
    expect(doc.components.schemas.CreateJobRequest?.additionalProperties).toBe(false);
    expect(Object.keys(doc.components.schemas.Job?.properties ?? {})).toEqual(expect.arrayContaining(['id', 'status', 'created_at', 'urls']));
  });

  it('shows a route added to the table, with its parameters and errors, and no server', async () => {
    expect(operationOf(doc, retryRoute)).toBeUndefined();
    const extended = buildOpenApiDocument([...API_ROUTES, retryRoute]) as unknown as Doc;
    const op = operationOf(extended, retryRoute)!;
    expect(op.operationId).toBe('retryJob');
    expect(op.parameters?.map((p) => [p.name, p.in])).toEqual([['id', 'path']]);
    expect(op.responses['202']?.content['application/json']?.schema?.$ref).toBe('#/components/schemas/Job');
    expect(op.responses['409']?.content['application/problem+json']?.schema?.allOf?.[1].properties.code.enum).toEqual(['JOB_NOT_CANCELABLE']);
    expect(extended.servers).toBeUndefined();
    await expect(SwaggerParser.validate(structuredClone(extended) as never)).resolves.toBeDefined();
  });

  it('refuses a table the document could not describe', () => {
    expect(() => buildOpenApiDocument([...API_ROUTES, { ...retryRoute, path: '/jobs/{jobId}/retry' }])).toThrow(/path parameters \[id\], its path has \[jobId\]/);
    expect(() => buildOpenApiDocument([...API_ROUTES, { ...retryRoute, operationId: 'getJob' }])).toThrow(/operationId getJob is used twice/);
    expect(() => buildOpenApiDocument([...API_ROUTES, { ...retryRoute, path: '/jobs/{id}', method: 'GET', operationId: 'x' }])).toThrow(/GET \/jobs\/\{id\} is in the route table twice/);
    const otherJob = { ...retryRoute, responses: [{ status: 202, description: 'x', body: { name: 'Job', schema: z.object({ id: z.string() }) } }] } as const satisfies ApiRoute;
    expect(() => buildOpenApiDocument([...API_ROUTES, otherJob])).toThrow(/Job is given to two different schemas/);
  });
});

describe('serveOpenApi', () => {
  it('answers the document with the URL the caller used as its server', async () => {
    const event = { headers: { 'x-forwarded-proto': 'https' }, requestContext: { domainName: 'abc.execute-api.eu-west-1.amazonaws.com', stage: 'v1' } };
    const result = await serveOpenApi(buildOpenApiDocument())(event as never, {} as never);
    expect(result.statusCode).toBe(200);
    const served = JSON.parse(result.body!) as Doc & { servers: { url: string }[] };
    expect(served.servers).toEqual([{ url: 'https://abc.execute-api.eu-west-1.amazonaws.com/v1' }]);
    expect(served.paths).toEqual(doc.paths);
  });
});

describe('scripts/build-openapi.ts', () => {
  it('writes the document the table builds', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'revive-openapi-')), 'nested', 'openapi.json');
    await promisify(execFile)(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../scripts/build-openapi.ts'), out], { cwd: join(import.meta.dirname, '..') });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(JSON.parse(JSON.stringify(doc)));
  });
});
