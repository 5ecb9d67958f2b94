import { isWellFormedText } from '@revive/contract';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ClientError } from '../errors.js';

/** JWT claims as API Gateway's JWT authorizer passes them (arrays arrive as strings like "[a b]"). */
export type JwtClaims = Record<string, string | number | boolean | string[]>;

/** An HTTP API (payload 2.0) event, with the JWT authorizer's context when a route has one. */
export type ApiEvent = APIGatewayProxyEventV2 & {
  requestContext: APIGatewayProxyEventV2['requestContext'] & {
    authorizer?: { jwt?: { claims?: JwtClaims; scopes?: string[] | null } };
  };
};

/** What every handler returns: always a structured result, never a bare string. */
export type ApiResult = APIGatewayProxyStructuredResultV2;

/**
 * Header lookup; API Gateway lower-cases names in payload 2.0, tests and callers may not. A value that is not
 * well-formed UTF-16 (a lone surrogate, which no bytes on the wire decode to) is a 400 VALIDATION_FAILED: header
 * values end up in keys, links and headers of the answer, where it would throw.
 */
export function header(event: ApiEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() !== wanted) continue;
    if (value !== undefined && !isWellFormedText(value)) {
      throw new ClientError(400, 'VALIDATION_FAILED', `The ${wanted} header is not well-formed text (it holds a lone surrogate).`, {
        errors: [{ path: `headers.${wanted}`, message: 'must be well-formed Unicode text' }],
      });
    }
    return value;
  }
  return undefined;
}

/** The request body as bytes, decoding API Gateway's base64 for binary bodies. */
export function bodyBytes(event: ApiEvent): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

/** Origin (and stage prefix) the caller used, for the links in responses. */
export function baseUrl(event: ApiEvent): string {
  const proto = header(event, 'x-forwarded-proto') ?? 'https';
  const host = event.requestContext.domainName || header(event, 'host') || 'localhost';
  const stage = event.requestContext.stage;
  return `${proto}://${host}${stage && stage !== '$default' ? `/${stage}` : ''}`;
}

/** A JSON answer. */
export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
