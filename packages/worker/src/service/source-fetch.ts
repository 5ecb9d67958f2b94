import { AddressPolicy, DEFAULT_SOURCE_DEADLINE_SECONDS, DEFAULT_SOURCE_MIN_BYTES_PER_SECOND, READABLE_IMAGE_NAMES, sniffImageType } from '@revive/contract';
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { PermanentError, RetryableError, WorkerError, messageOf } from '@revive/pipeline/errors';

/** Largest source the worker downloads: four times a 12-megapixel JPEG. @default 32 MiB */
export const DEFAULT_MAX_SOURCE_BYTES = 32 * 1024 * 1024;
/** Connecting, waiting for the response's headers, and the longest pause between two body chunks. @default 30_000 */
export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;
/**
 * A source body's rate is averaged over each window this long: a window with fewer than
 * `minBytesPerSecond` × its length fails the download SOURCE_TOO_SLOW. Long enough for a TCP stall or a slow start
 * to pass, short enough that a drip holds a worker slot seconds, not minutes. @default 10_000
 */
export const DEFAULT_SOURCE_RATE_WINDOW_MS = 10_000;
/** @default 5 */
export const DEFAULT_MAX_REDIRECTS = 5;

/** `dns.lookup`-shaped resolver; tests inject one to play a rebinding DNS server. */
export type Resolver = (hostname: string, options: LookupAllOptions, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

export interface SafeHttpOptions {
  /** CIDRs reachable although private (REVIVE_URL_ALLOW_CIDRS); metadata addresses stay refused. @default [] */
  readonly allowCidrs?: readonly string[];
  /** `host:port` endpoints never reached, whatever allowCidrs says (REVIVE_URL_DENY_ENDPOINTS). @default [] */
  readonly denyEndpoints?: readonly string[];
  /** @default DEFAULT_MAX_SOURCE_BYTES */
  readonly maxBytes?: number;
  /** Connect, response headers and the pause between two body chunks; webhooks' whole POST. @default DEFAULT_FETCH_TIMEOUT_MS */
  readonly timeoutMs?: number;
  /**
   * Slowest source body accepted, in bytes per second averaged over each `rateWindowMs` (REVIVE_SOURCE_MIN_BYTES_PER_SECOND);
   * 0 turns the check off. @default the contract's DEFAULT_SOURCE_MIN_BYTES_PER_SECOND
   */
  readonly minBytesPerSecond?: number;
  /** @default DEFAULT_SOURCE_RATE_WINDOW_MS */
  readonly rateWindowMs?: number;
  /** Whole source download, redirects included (REVIVE_SOURCE_DEADLINE_SECONDS). @default the contract's DEFAULT_SOURCE_DEADLINE_SECONDS × 1000 */
  readonly deadlineMs?: number;
  /** @default DEFAULT_MAX_REDIRECTS */
  readonly maxRedirects?: number;
  /** @default dns.lookup */
  readonly resolver?: Resolver;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const FORBIDDEN_MARK = Symbol('revive.forbiddenAddress');

/**
 * Throws INVALID_IMAGE unless the bytes start like an image the worker reads: the contract's sniff, shared with the
 * API (READABLE_IMAGE_TYPES, what sharp decodes here; SVG is refused on purpose).
 */
export function assertImageBytes(bytes: Uint8Array, where: string): void {
  if (!sniffImageType(bytes)) throw new PermanentError('INVALID_IMAGE', `${where} is not an image (${READABLE_IMAGE_NAMES})`);
}

function forbidden(url: URL, reason: string): PermanentError {
  return new PermanentError('FORBIDDEN_URL', `refused ${url.protocol}//${url.host}: ${reason}`);
}

function findForbidden(error: unknown): Error | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as Error & { [FORBIDDEN_MARK]?: boolean })[FORBIDDEN_MARK]) return e;
  }
  return undefined;
}

/**
 * HTTP client for user-supplied URLs (sources and webhooks), safe against server-side request forgery. The
 * address check runs inside the socket's DNS lookup, on the address actually connected to, so a DNS answer
 * that changes between a check and the connection (rebinding) cannot slip through; IP-literal hosts, which
 * skip DNS, are checked before the request. Redirects are followed by hand, each hop checked the same way.
 */
export class SafeHttpClient {
  private readonly policy: AddressPolicy;
  private readonly agent: Agent;
  /** Agents for the ports of denied endpoints, whose lookup judges each address with the port. */
  private readonly portAgents = new Map<number, Agent>();
  private readonly makeAgent: (port: number | undefined) => Agent;
  private readonly maxBytes: number;
  private readonly timeoutMs: number;
  private readonly maxRedirects: number;
  private readonly minBytesPerSecond: number;
  private readonly rateWindowMs: number;
  private readonly deadlineMs: number;

  constructor(options: SafeHttpOptions = {}) {
    this.policy = new AddressPolicy(options.allowCidrs ?? [], { denyEndpoints: options.denyEndpoints ?? [] });
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_SOURCE_BYTES;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
    this.minBytesPerSecond = options.minBytesPerSecond ?? DEFAULT_SOURCE_MIN_BYTES_PER_SECOND;
    this.rateWindowMs = options.rateWindowMs ?? DEFAULT_SOURCE_RATE_WINDOW_MS;
    this.deadlineMs = options.deadlineMs ?? DEFAULT_SOURCE_DEADLINE_SECONDS * 1000;
    this.maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
    const resolver: Resolver = options.resolver ?? ((host, opts, cb) => dnsLookup(host, opts, cb));
    const policy = this.policy;
    // A lookup knows the host name, not the port; a denied endpoint needs both, so each of their ports gets an agent
    // (undici pools connections per origin, so a connection to that port is only ever made by that agent).
    const lookupFor = (port: number | undefined): LookupFunction => (hostname, lookupOptions, callback) => {
      resolver(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
        if (error) return callback(error, '', 0);
        const refused = addresses.map((a) => policy.check(a.address, port)).find((v) => !v.allowed);
        if (refused && !refused.allowed) {
          const e = Object.assign(new Error(`${hostname} resolves to a refused address: ${refused.reason}`), { [FORBIDDEN_MARK]: true, code: 'EREVIVEFORBIDDEN' });
          return callback(e, '', 0);
        }
        if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} has no addresses`), { code: 'ENOTFOUND' }), '', 0);
        // net.connect asks for every address (`all`) when it races IPv4 and IPv6 (autoSelectFamily).
        if (lookupOptions.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        const first = addresses[0]!;
        return callback(null, first.address, first.family);
      });
    };
    this.makeAgent = (port) => new Agent({ connect: { lookup: lookupFor(port), timeout: this.timeoutMs }, keepAliveTimeout: 1_000 });
    this.agent = this.makeAgent(undefined);
  }

  private agentFor(url: URL): Agent {
    const port = effectivePort(url);
    if (!this.policy.deniesPort(port)) return this.agent;
    let agent = this.portAgents.get(port);
    if (agent === undefined) {
      agent = this.makeAgent(port);
      this.portAgents.set(port, agent);
    }
    return agent;
  }

  /** Refuses a URL whose scheme is not http(s) or whose host is a refused IP literal. */
  checkUrl(url: URL): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw forbidden(url, 'only http and https are allowed');
    if (url.username || url.password) throw forbidden(url, 'credentials in URLs are not allowed');
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (/^[0-9.]+$/.test(host) || host.includes(':')) {
      const verdict = this.policy.check(host, effectivePort(url));
      if (!verdict.allowed) throw forbidden(url, verdict.reason);
    }
  }

  /**
   * Downloads an image: bounded redirects, bytes, time; the content must look like an image. A body that comes slower
   * than `minBytesPerSecond` over a window, stalls, or is not done by the deadline fails SOURCE_TOO_SLOW, permanently:
   * the same server would drip as slowly on every retry, holding a worker slot each time.
   */
  async fetchImage(source: string): Promise<Uint8Array> {
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new PermanentError('SOURCE_TOO_SLOW', `the URL source was not downloaded within ${this.deadlineMs / 1000} s (REVIVE_SOURCE_DEADLINE_SECONDS)`)),
      this.deadlineMs,
    );
    try {
      return await this.download(new URL(source), deadline.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private async download(start: URL, signal: AbortSignal): Promise<Uint8Array> {
    const { response, url } = await this.open(start, signal, 'image');
    const { bytes } = await this.readCapped(response, url, this.maxBytes, 'SOURCE_TOO_LARGE');
    assertImageBytes(bytes, 'the URL source');
    return bytes;
  }

  /**
   * Downloads a video into `file` as it comes (never held in memory): the same address rules, redirects and minimum
   * rate as a photo's, at most `maxBytes`, for as long as `signal` (the job's budget) allows. Resolves with its size.
   */
  async fetchVideoToFile(source: string, file: string, maxBytes: number, signal: AbortSignal): Promise<number> {
    const { response, url } = await this.open(new URL(source), signal, 'video');
    const out = createWriteStream(file);
    try {
      // A video over its limit fails with the code the API gives one (VIDEO_TOO_LARGE), whoever finds it.
      const { received } = await this.readCapped(response, url, maxBytes, 'VIDEO_TOO_LARGE', out);
      await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
      return received;
    } finally {
      out.destroy();
    }
  }

  /** Follows redirects to a 2xx answer whose content type may be the kind of media asked for. */
  private async open(start: URL, signal: AbortSignal, kind: 'image' | 'video'): Promise<{ response: Dispatcher.ResponseData; url: URL }> {
    let url = start;
    for (let hop = 0; ; hop++) {
      this.checkUrl(url);
      const response = await this.send(url, { method: 'GET', signal, headers: { accept: `${kind}/*`, 'user-agent': 'revive-worker' } });
      const status = response.statusCode;
      if (REDIRECT_STATUSES.has(status)) {
        await response.body.dump().catch(() => undefined);
        const location = headerValue(response.headers, 'location');
        if (!location) throw new PermanentError('SOURCE_UNREACHABLE', `${url.host} answered ${status} without a Location`);
        if (hop >= this.maxRedirects) throw new PermanentError('SOURCE_UNREACHABLE', `more than ${this.maxRedirects} redirects`);
        url = new URL(location, url);
        continue;
      }
      if (status < 200 || status > 299) {
        await response.body.dump().catch(() => undefined);
        if (status === 404 || status === 410) throw new PermanentError('SOURCE_NOT_FOUND', `${url.host} answered ${status}`);
        if (status === 408 || status === 429 || status >= 500) throw new RetryableError('SOURCE_UNREACHABLE', `${url.host} answered ${status}`);
        throw new PermanentError('SOURCE_UNREACHABLE', `${url.host} answered ${status}`);
      }
      const contentType = headerValue(response.headers, 'content-type')?.split(';')[0]?.trim().toLowerCase();
      if (contentType && !contentType.startsWith(`${kind}/`) && contentType !== 'application/octet-stream' && contentType !== 'binary/octet-stream') {
        await response.body.dump().catch(() => undefined);
        throw kind === 'image'
          ? new PermanentError('INVALID_IMAGE', `the URL's content type is ${contentType}, not an image`)
          : new PermanentError('VIDEO_UNREADABLE', `the URL's content type is ${contentType}, not a video`);
      }
      return { response, url };
    }
  }

  /** POSTs a body (webhooks); redirects are not followed. Returns the status code. */
  async post(target: string, body: string, headers: Record<string, string>, timeoutMs: number = this.timeoutMs): Promise<number> {
    const url = new URL(target);
    this.checkUrl(url);
    const response = await this.send(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(timeoutMs) });
    await response.body.dump().catch(() => undefined);
    return response.statusCode;
  }

  /**
   * Ends every connection at once. Called at shutdown after the drain, when any download still under way belongs
   * to a job that was already released: waiting for it (`agent.close()`) could outlast ECS's stop timeout.
   */
  async close(): Promise<void> {
    await Promise.all([this.agent, ...this.portAgents.values()].map((agent) => agent.destroy()));
  }

  private async send(url: URL, options: { method: 'GET' | 'POST'; signal: AbortSignal; headers: Record<string, string>; body?: string }): Promise<Dispatcher.ResponseData> {
    try {
      return await request(url, { ...options, dispatcher: this.agentFor(url), headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
    } catch (error) {
      throw this.classify(error, url);
    }
  }

  /**
   * The body, at most `maxBytes` (past it: `tooLarge`), at the minimum rate; written to `sink` as it comes when given
   * (then the result is empty).
   */
  private async readCapped(response: Dispatcher.ResponseData, url: URL, maxBytes: number, tooLarge: 'SOURCE_TOO_LARGE' | 'VIDEO_TOO_LARGE', sink?: Writable): Promise<{ readonly bytes: Uint8Array; readonly received: number }> {
    const declared = Number(headerValue(response.headers, 'content-length'));
    if (Number.isFinite(declared) && declared > maxBytes) {
      response.body.destroy();
      throw new PermanentError(tooLarge, `the URL source is ${declared} bytes; the worker accepts at most ${maxBytes}`);
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let inWindow = 0;
    // Whole windows, not a rate since the start: a body that comes fast and then stalls is caught one window later.
    const windowMin = (this.minBytesPerSecond * this.rateWindowMs) / 1000;
    const rateCheck =
      windowMin <= 0
        ? undefined
        : setInterval(() => {
            if (inWindow < windowMin) {
              const seconds = this.rateWindowMs / 1000;
              response.body.destroy(new PermanentError('SOURCE_TOO_SLOW', `${url.host} sent ${inWindow} bytes in ${seconds} s, after ${received} bytes; the worker needs at least ${this.minBytesPerSecond} bytes per second (REVIVE_SOURCE_MIN_BYTES_PER_SECOND)`));
            }
            inWindow = 0;
          }, this.rateWindowMs);
    try {
      for await (const chunk of response.body) {
        received += (chunk as Buffer).length;
        inWindow += (chunk as Buffer).length;
        if (received > maxBytes) {
          response.body.destroy();
          throw new PermanentError(tooLarge, `the URL source is over ${maxBytes} bytes`);
        }
        if (sink === undefined) chunks.push(chunk as Buffer);
        else if (!sink.write(chunk)) await once(sink, 'drain');
      }
    } catch (error) {
      throw this.classify(error, url);
    } finally {
      clearInterval(rateCheck);
    }
    return { bytes: new Uint8Array(Buffer.concat(chunks)), received };
  }

  private classify(error: unknown, url: URL): WorkerError {
    if (error instanceof WorkerError) return error;
    const refused = findForbidden(error);
    if (refused) return forbidden(url, refused.message);
    const code = (error as { code?: string }).code;
    const message = messageOf(error);
    if (code === 'ENOTFOUND') return new PermanentError('SOURCE_UNREACHABLE', `${url.hostname} does not resolve`, { cause: error });
    // The headers came, then the body stopped for the whole timeout: a server that stalls does so again on a retry.
    if (code === 'UND_ERR_BODY_TIMEOUT') return new PermanentError('SOURCE_TOO_SLOW', `${url.host} stopped sending the body for ${this.timeoutMs / 1000} s`, { cause: error });
    return new RetryableError('SOURCE_UNREACHABLE', `${url.host}: ${message}`, { cause: error });
  }
}

/** The port a connection to `url` uses: its own, or the scheme's. */
function effectivePort(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
}

function headerValue(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
