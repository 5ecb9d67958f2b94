import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { createDeps, destroyDeps, type ApiDeps, type ApiHandler } from '@revive/api';
import type { ApiEvent, ApiResult } from '@revive/api';
import { problemResult } from '@revive/api';
import { API_ROUTES, type ApiRoute } from '@revive/contract';
import { bindHandlers } from '@revive/api';
import { createS3Proxy, sendS3Timeout } from './s3-proxy/index.js';

/** API Gateway HTTP API quotas (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html). */
export const API_GATEWAY_LIMITS = {
  /** Payload size: 10 MB. */
  payloadBytes: 10 * 1024 * 1024,
  /** Total combined size of request line and header values: 10240 bytes. */
  requestLineAndHeadersBytes: 10_240,
  /** Maximum integration timeout: 30 s (API Gateway answers 503). */
  integrationTimeoutMs: 30_000,
} as const;

/**
 * Node's own header limit for the local server. Node's default (16 KiB) would answer larger requests itself with a
 * bare 431 before any handler runs; above API Gateway's 10240 bytes the server answers problem+json 431 itself, and
 * past this limit the `clientError` handler does. @default 65_536
 */
export const LOCAL_MAX_HEADER_BYTES = 64 * 1024;

/**
 * Idle keep-alive time of the local server's connections. Node's 5 s default races clients that reuse an idle
 * socket on a loaded machine: the server closes it just as a request (a 20 MiB upload) goes out, and the client gets
 * ECONNRESET. Load balancers keep 60 s; clients stop reusing sockets before the server's announced timeout.
 * @default 65_000
 */
export const LOCAL_KEEP_ALIVE_TIMEOUT_MS = 65_000;

/**
 * How long a request body may go without a byte arriving before the server answers 408 and closes the connection.
 * A client that announced a body and stalled (Content-Length 1 MB, 1 KB sent) would otherwise hold the connection
 * until Node's 300 s request timeout. An upload that keeps moving, however slowly, is never cut. @default 10_000
 */
export const DEFAULT_BODY_IDLE_TIMEOUT_MS = 10_000;

/** @default '127.0.0.1' */
export const DEFAULT_HOST = '127.0.0.1';
/** @default 3000 */
export const DEFAULT_PORT = 3000;
/** Path prefix of the same-origin S3 proxy. */
export const S3_PROXY_PREFIX = '/s3';
const WEB_ROOT = path.join(import.meta.dirname, 'web');
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/demo/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/demo/media.js': { file: 'media.js', type: 'text/javascript; charset=utf-8' },
  '/demo/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};
/** The demo page loads `@revive/client`'s built ESM from here (`pnpm --filter @revive/client build`). */
const CLIENT_DIST = path.resolve(import.meta.dirname, '../../client/dist');
const CLIENT_PREFIX = '/demo/client/';

export interface LocalServerOptions {
  /** Environment for the handlers (contract's apiEnvSchema, plus AWS_ENDPOINT_URL_S3 for the S3 proxy). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** @default DEFAULT_HOST */
  readonly host?: string;
  /** 0 picks a free port. @default $PORT, else DEFAULT_PORT */
  readonly port?: number;
  /** @default API_GATEWAY_LIMITS.integrationTimeoutMs */
  readonly timeoutMs?: number;
  /** @default DEFAULT_BODY_IDLE_TIMEOUT_MS */
  readonly bodyIdleTimeoutMs?: number;
}

export interface LocalServer {
  /** e.g. http://127.0.0.1:3000 */
  readonly url: string;
  readonly deps: ApiDeps;
  /** Where presigned URLs point (this server's /s3 proxy), when there is an emulator behind it. */
  readonly s3PublicEndpoint: string | undefined;
  close(): Promise<void>;
}

/** A path whose percent-encoding does not decode. */
class MalformedPathError extends Error {}

interface MatchedRoute {
  readonly spec: ApiRoute;
  readonly pathParameters: Record<string, string> | undefined;
}

function matchRoute(method: string, pathname: string): MatchedRoute | 'method' | undefined {
  let pathMatched = false;
  for (const spec of API_ROUTES) {
    const names: string[] = [];
    const pattern = new RegExp(`^${spec.path.replace(/\{(\w+)\}/g, (_m, name: string) => (names.push(name), '([^/]+)'))}$`);
    const match = pattern.exec(pathname);
    if (!match) continue;
    pathMatched = true;
    if (spec.method !== method) continue;
    const decode = (raw: string) => {
      try {
        return decodeURIComponent(raw);
      } catch (error) {
        throw new MalformedPathError(`The path segment ${JSON.stringify(raw)} is not valid percent-encoded UTF-8.`, { cause: error });
      }
    };
    const pathParameters = names.length === 0 ? undefined : Object.fromEntries(names.map((n, i) => [n, decode(match[i + 1]!)]));
    return { spec, pathParameters };
  }
  return pathMatched ? 'method' : undefined;
}

/** API Gateway base64-encodes bodies that are not text. */
function isTextual(contentType: string | undefined): boolean {
  return contentType === undefined || /^(text\/|application\/([\w.+-]*\+)?(json|xml|x-www-form-urlencoded|javascript))/i.test(contentType);
}

/** Node request → API Gateway HTTP API payload 2.0 event, as API Gateway builds it. */
export function toApiEvent(req: IncomingMessage, url: URL, body: Buffer, route: MatchedRoute | undefined, domainName: string): ApiEvent {
  const headers: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!;
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  headers['x-forwarded-proto'] ??= 'http';
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const cookies = headers.cookie?.split(';').map((c) => c.trim());
  delete headers.cookie;
  const now = new Date();
  const routeKey = route ? `${route.spec.method} ${route.spec.path}` : '$default';
  const textual = isTextual(headers['content-type']);
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    ...(cookies === undefined ? {} : { cookies }),
    headers,
    ...(Object.keys(query).length === 0 ? {} : { queryStringParameters: query }),
    ...(route?.pathParameters === undefined ? {} : { pathParameters: route.pathParameters }),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length === 0 ? {} : { body: textual ? body.toString('utf8') : body.toString('base64') }),
    isBase64Encoded: body.length > 0 && !textual,
  };
}

function send(res: ServerResponse, result: ApiResult): void {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
  const body = result.body === undefined ? Buffer.alloc(0) : result.isBase64Encoded ? Buffer.from(result.body, 'base64') : Buffer.from(result.body);
  headers['content-length'] = String(body.length);
  res.writeHead(result.statusCode ?? 200, headers);
  if (result.cookies?.length) res.setHeader('set-cookie', result.cookies);
  res.end(body);
}

/** Reads the body up to `maxBytes`; undefined when it is larger (the rest is discarded). */
async function readLimited(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      req.resume();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The request's path exactly as sent, or undefined when URL parsing would change it: `//jobs` (a scheme-relative URL
 * whose "host" is jobs), dot segments (`/jobs/%2e%2e`, `/a/../`) and backslashes all resolve to another path, often
 * `/` (the demo page). API Gateway routes the raw path; here such a path matches no route instead of another one.
 */
export function canonicalPath(rawUrl: string): string | undefined {
  const rawPath = rawUrl.split('?')[0]!;
  if (!rawPath.startsWith('/')) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(rawUrl, 'http://local.invalid');
  } catch {
    return undefined;
  }
  return parsed.host === 'local.invalid' && parsed.pathname === rawPath ? rawPath : undefined;
}

/**
 * Answers 408 (via `timedOut`) when a request body stops arriving for `idleMs`: the socket's byte count is checked
 * each period, so any progress re-arms it. Stops once the body is complete or the request is gone.
 */
function watchBodyIdle(req: IncomingMessage, idleMs: number, timedOut: () => void): void {
  if (req.complete || idleMs <= 0) return;
  let seen = req.socket.bytesRead;
  const timer = setInterval(() => {
    if (req.complete) return clearInterval(timer);
    const now = req.socket.bytesRead;
    if (now !== seen) {
      seen = now;
      return;
    }
    clearInterval(timer);
    timedOut();
  }, idleMs);
  timer.unref();
  const stop = () => clearInterval(timer);
  req.once('end', stop);
  req.once('close', stop);
}

function requestLineAndHeaderBytes(req: IncomingMessage): number {
  let total = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 'HTTP/1.1'.length;
  for (let i = 1; i < req.rawHeaders.length; i += 2) total += Buffer.byteLength(req.rawHeaders[i]!);
  return total;
}

/**
 * The local API: Node HTTP requests become API Gateway v2 events for the SAME handlers the Lambdas run, with
 * API Gateway's limits applied here. It also serves the demo page and the same-origin S3 proxy (see s3-proxy/index.ts).
 */
export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const env = options.env ?? process.env;
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? (env.PORT === undefined ? DEFAULT_PORT : Number(env.PORT));
  const timeoutMs = options.timeoutMs ?? API_GATEWAY_LIMITS.integrationTimeoutMs;
  const bodyIdleTimeoutMs = options.bodyIdleTimeoutMs ?? DEFAULT_BODY_IDLE_TIMEOUT_MS;
  // Bound once the port is known (presigned URLs point at this server's own S3 proxy).
  const bound: { handlers?: Record<ApiRoute['handler'], ApiHandler> } = {};
  let proxy: ReturnType<typeof createS3Proxy> | undefined;

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, domainName: string): Promise<void> {
    if (requestLineAndHeaderBytes(req) > API_GATEWAY_LIMITS.requestLineAndHeadersBytes) {
      req.resume();
      send(res, problemResult(431, 'HEADERS_TOO_LARGE', `Request line and headers exceed API Gateway's ${API_GATEWAY_LIMITS.requestLineAndHeadersBytes} bytes.`));
      return;
    }
    let route: ReturnType<typeof matchRoute>;
    try {
      route = matchRoute(req.method ?? 'GET', url.pathname);
    } catch (error) {
      if (!(error instanceof MalformedPathError)) throw error;
      req.resume();
      send(res, problemResult(400, 'MALFORMED_PATH', error.message));
      return;
    }
    const body = await readLimited(req, API_GATEWAY_LIMITS.payloadBytes);
    if (body === undefined) {
      send(res, problemResult(413, 'PAYLOAD_TOO_LARGE', `The body exceeds API Gateway's ${API_GATEWAY_LIMITS.payloadBytes} bytes.`));
      return;
    }
    if (route === undefined || route === 'method') {
      send(res, problemResult(404, 'ROUTE_NOT_FOUND', `No route for ${req.method} ${url.pathname}.`));
      return;
    }
    const event = toApiEvent(req, url, body, route, domainName);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ApiResult>((resolve) => {
      timer = setTimeout(() => resolve(problemResult(503, 'TIMEOUT', `The handler took longer than ${timeoutMs} ms.`)), timeoutMs);
    });
    try {
      send(res, await Promise.race([bound.handlers![route.spec.handler](event), timeout]));
    } finally {
      clearTimeout(timer);
    }
  }

  async function handleStatic(res: ServerResponse, entry: { file: string; type: string }): Promise<void> {
    const body = await readFile(path.join(WEB_ROOT, entry.file));
    res.writeHead(200, { 'content-type': entry.type, 'content-length': String(body.length), 'cache-control': 'no-cache' });
    res.end(body);
  }

  async function handleClientModule(res: ServerResponse, name: string): Promise<void> {
    // Flat file names only: nothing outside the client's dist folder can be named.
    const file = /^[\w-]+\.js$/.test(name) ? path.join(CLIENT_DIST, name) : undefined;
    const body = file === undefined ? undefined : await readFile(file).catch(() => undefined);
    if (body === undefined) {
      const text = `Not found: ${name}. The demo page needs @revive/client built: pnpm --filter @revive/client build`;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'content-length': String(body.length), 'cache-control': 'no-cache' });
    res.end(body);
  }

  const server: Server = createServer({ maxHeaderSize: LOCAL_MAX_HEADER_BYTES, keepAliveTimeout: LOCAL_KEEP_ALIVE_TIMEOUT_MS }, (req, res) => {
    const domainName = req.headers.host ?? `${host}:${port}`;
    const canonical = canonicalPath(req.url ?? '/');
    // Parsed against this server's own origin: a Host header is the client's to choose and may not parse as a URL.
    const url = new URL(canonical === undefined ? '/' : (req.url ?? '/'), 'http://local.invalid');
    const isS3 = canonical !== undefined && (url.pathname === S3_PROXY_PREFIX || url.pathname.startsWith(`${S3_PROXY_PREFIX}/`));
    watchBodyIdle(req, bodyIdleTimeoutMs, () => {
      if (!res.headersSent) {
        res.setHeader('connection', 'close');
        const message = `No part of the request body arrived for ${bodyIdleTimeoutMs} ms.`;
        if (isS3) sendS3Timeout(res, message);
        else send(res, problemResult(408, 'TIMEOUT', message));
      }
      // The answer goes out first; the rest of the body is never coming.
      res.once('finish', () => req.socket.destroy());
      if (res.writableFinished) req.socket.destroy();
    });
    const work = async () => {
      if (canonical === undefined) {
        req.resume();
        send(res, problemResult(404, 'ROUTE_NOT_FOUND', `No route for ${req.method} ${JSON.stringify(req.url)}: the path is not in canonical form.`));
        return;
      }
      if (isS3) {
        if (proxy === undefined) {
          send(res, problemResult(404, 'ROUTE_NOT_FOUND', 'No S3 proxy: AWS_ENDPOINT_URL_S3 is not set.'));
          return;
        }
        // The signature covers the path exactly as the client sent it, before any URL normalisation.
        const rawPath = (req.url ?? '/').split('?')[0]!;
        await proxy.handle(req, res, url.pathname.slice(S3_PROXY_PREFIX.length), url.searchParams, rawPath);
        return;
      }
      if (req.method === 'GET' && url.pathname.startsWith(CLIENT_PREFIX)) {
        await handleClientModule(res, url.pathname.slice(CLIENT_PREFIX.length));
        return;
      }
      const asset = req.method === 'GET' ? STATIC_FILES[url.pathname] : undefined;
      if (asset !== undefined) {
        await handleStatic(res, asset);
        return;
      }
      await handleApi(req, res, url, domainName);
    };
    work().catch((error: unknown) => {
      if (!res.headersSent) send(res, problemResult(500, 'INTERNAL', (error as Error).message));
      else res.destroy();
    });
  });
  // Requests Node cannot parse never reach the handler; answer them in problem+json too, not with a bare status line.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const result = tooLarge
      ? problemResult(431, 'HEADERS_TOO_LARGE', `Request line and headers exceed API Gateway's ${API_GATEWAY_LIMITS.requestLineAndHeadersBytes} bytes.`)
      : problemResult(400, 'VALIDATION_FAILED', `The request is not valid HTTP/1.1 (${error.code ?? error.message}).`);
    const body = Buffer.from(result.body ?? '');
    const status = result.statusCode ?? 400;
    socket.end(
      Buffer.concat([
        Buffer.from(
          `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: ${String(result.headers?.['content-type'])}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`,
        ),
        body,
      ]),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const origin = `http://${host}:${address.port}`;
  // Presigned URLs point at this server's proxy, so the browser stays same-origin (fauxqs has no CORS).
  const handlerEnv: NodeJS.ProcessEnv = {
    REVIVE_LOCAL_MODE: 'true',
    ...env,
    ...(env.AWS_ENDPOINT_URL_S3 === undefined || env.REVIVE_S3_PUBLIC_ENDPOINT !== undefined ? {} : { REVIVE_S3_PUBLIC_ENDPOINT: `${origin}${S3_PROXY_PREFIX}` }),
  };
  let deps: ApiDeps;
  try {
    deps = createDeps(handlerEnv);
  } catch (error) {
    await new Promise((resolve) => server.close(resolve));
    throw error;
  }
  bound.handlers = bindHandlers(deps);
  if (env.AWS_ENDPOINT_URL_S3 !== undefined) {
    proxy = createS3Proxy({
      endpoint: env.AWS_ENDPOINT_URL_S3,
      region: env.AWS_REGION ?? 'us-east-1',
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID ?? 'local', secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? 'local' },
      maxFormBytes: deps.config.REVIVE_UPLOAD_MAX_BYTES + 64 * 1024,
    });
  }
  return {
    url: origin,
    deps,
    s3PublicEndpoint: handlerEnv.REVIVE_S3_PUBLIC_ENDPOINT,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      proxy?.destroy();
      destroyDeps(deps);
    },
  };
}
