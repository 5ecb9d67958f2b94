import {
  API_ERROR_CODES,
  createJobRequestSchema,
  createUploadRequestSchema,
  createUploadResponseSchema,
  DEFAULT_LIST_LIMIT,
  jobListResponseSchema,
  jobResponseSchema,
  MAX_LIST_LIMIT,
  problemSchema,
} from '@revive/contract';
import { z } from 'zod';

const schema = (s: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const jsonBody = (name: string, description: string) => ({ description, content: { 'application/json': { schema: ref(name) } } });
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const common = { '401': problem('No tenant (UNAUTHENTICATED).'), '500': problem('A bug (INTERNAL).') };

/** The OpenAPI 3.1 document, generated from contract's zod schemas (JSON Schema 2020-12, which 3.1 uses). */
export function buildOpenApiDocument(serverUrl?: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Revive job API',
      version: '1.0.0',
      description: `Face restoration jobs. Errors are RFC 9457 problem+json with a stable \`code\`: ${API_ERROR_CODES.join(', ')}.`,
    },
    ...(serverUrl === undefined ? {} : { servers: [{ url: serverUrl }] }),
    security: [{ jwt: [] }],
    paths: {
      '/uploads': {
        post: {
          operationId: 'createUpload',
          summary: 'Get a presigned POST to upload a photo',
          requestBody: { required: false, content: { 'application/json': { schema: ref('CreateUploadRequest') } } },
          responses: { '201': jsonBody('CreateUploadResponse', 'Form fields and URL for the upload.'), '400': problem('Bad body.'), ...common },
        },
      },
      '/jobs': {
        post: {
          operationId: 'createJob',
          summary: 'Create a restoration job',
          parameters: [
            { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', minLength: 1, maxLength: 255 } },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: ref('CreateJobRequest') } } },
          responses: {
            '202': jsonBody('Job', 'The job (new, or the same job for a repeated Idempotency-Key).'),
            '400': problem('MALFORMED_JSON, VALIDATION_FAILED, UNKNOWN_FIELD, FORBIDDEN_URL, INVALID_IDEMPOTENCY_KEY.'),
            '403': problem('FORBIDDEN_UPLOAD_KEY.'),
            '413': problem('PAYLOAD_TOO_LARGE.'),
            '415': problem('UNSUPPORTED_MEDIA_TYPE.'),
            '422': problem('IDEMPOTENCY_KEY_REUSED, UPLOAD_NOT_FOUND, IMAGE_TOO_LARGE (the upload\'s header: input or output pixels over the limit), OUTPUT_TOO_LARGE (the output is wider or taller than the requested ext holds).'),
            '503': problem('ENQUEUE_FAILED: retry with the same Idempotency-Key.'),
            ...common,
          },
        },
        get: {
          operationId: 'listJobs',
          summary: "The caller's jobs, newest first",
          parameters: [
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT } },
            { name: 'cursor', in: 'query', required: false, schema: { type: 'string' } },
          ],
          responses: { '200': jsonBody('JobList', 'A page of jobs.'), '400': problem('INVALID_CURSOR, VALIDATION_FAILED.'), ...common },
        },
      },
      '/jobs/{id}': {
        get: {
          operationId: 'getJob',
          summary: 'A job; SUCCEEDED jobs carry a presigned result URL and the faces found (boxes in input pixels)',
          parameters: [idParam],
          responses: { '200': jsonBody('Job', 'The job.'), '404': problem('JOB_NOT_FOUND.'), ...common },
        },
        delete: {
          operationId: 'cancelJob',
          summary: 'Cancel a QUEUED job',
          parameters: [idParam],
          responses: { '200': jsonBody('Job', 'The canceled job.'), '404': problem('JOB_NOT_FOUND.'), '409': problem('JOB_NOT_CANCELABLE.'), ...common },
        },
      },
      '/openapi.json': { get: { operationId: 'openapi', summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } } },
    },
    components: {
      securitySchemes: { jwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: {
        CreateUploadRequest: schema(createUploadRequestSchema, 'input'),
        CreateUploadResponse: schema(createUploadResponseSchema, 'output'),
        CreateJobRequest: schema(createJobRequestSchema, 'input'),
        Job: schema(jobResponseSchema, 'output'),
        JobList: schema(jobListResponseSchema, 'output'),
        Problem: schema(problemSchema, 'output'),
      },
    },
  };
}
