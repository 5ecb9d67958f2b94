import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webhookMessageId, type WebhookEvent } from '@revive/contract';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafeHttpClient } from './source-fetch.js';
import { backoffDelayMs, classifyWebhookError, classifyWebhookStatus, DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS, WEBHOOK_RETRY_JITTER, webhookRetryDelaySeconds, WebhookSender, type WebhookMessage } from './webhook.js';

const SECRET = `whsec_${Buffer.from('a webhook key of 32 bytes, test!').toString('base64')}`;
const JOB_ID = '0b6e8f0e-5f2c-4f5e-9a7e-2d7c7d1f0a11';
const message = (event: WebhookEvent, payload: unknown = {}): WebhookMessage => ({ id: webhookMessageId(JOB_ID, event), event, payload });

describe('WebhookSender', () => {
  const received: { path: string; body: string; headers: IncomingMessage['headers'] }[] = [];
  let failuresLeft = 2;
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body, headers: req.headers });
      if (req.url === '/flaky' && failuresLeft-- > 0) return res.writeHead(503).end();
      if (req.url === '/gone') return res.writeHead(410).end();
      if (req.url === '/moved') return res.writeHead(302, { location: `${base}/ok` }).end();
      if (req.url === '/slow-down') return res.writeHead(429).end();
      res.writeHead(200).end('ok');
    });
  });
  let base = '';
  const http = new SafeHttpClient({ allowCidrs: ['127.0.0.2/32'], timeoutMs: 2_000 });
  const sender = new WebhookSender(http, { secret: SECRET, baseDelayMs: 10, maxDelayMs: 50, maxAttempts: 4 });

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
    base = `http://127.0.0.2:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await http.close();
    server.close();
  });

  it('delivers a body that the Standard Webhooks library verifies, and refuses once changed', async () => {
    const sentAt = Math.floor(Date.now() / 1000);
    const outcome = await sender.send(`${base}/ok`, message('job.succeeded', { id: 'x', status: 'SUCCEEDED' }));
    expect(outcome).toMatchObject({ delivered: true, attempts: 1, status: 200 });
    const hit = received.find((r) => r.path === '/ok')!;
    expect(hit.headers['revive-event']).toBe('job.succeeded');
    expect(hit.headers['webhook-id']).toBe(webhookMessageId(JOB_ID, 'job.succeeded'));
    expect(Number(hit.headers['webhook-timestamp'])).toBeGreaterThanOrEqual(sentAt);
    const headers = hit.headers as Record<string, string>;
    expect(new Webhook(SECRET).verify(hit.body, headers)).toEqual({ id: 'x', status: 'SUCCEEDED' });
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 9).toString('base64')}`).verify(hit.body, headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(SECRET).verify(hit.body.replace('SUCCEEDED', 'FAILED'), headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(SECRET).verify(hit.body, { ...headers, 'webhook-id': webhookMessageId(JOB_ID, 'job.failed') })).toThrow(WebhookVerificationError);
  });

  it('sends the same webhook-id on every attempt of a delivery, each signed at its own time', async () => {
    const before = received.length;
    failuresLeft = 2;
    expect(await sender.send(`${base}/flaky`, message('job.failed', { n: 1 }))).toMatchObject({ delivered: true, attempts: 3 });
    const attempts = received.slice(before);
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((a) => a.headers['webhook-id']))).toEqual(new Set([webhookMessageId(JOB_ID, 'job.failed')]));
    for (const a of attempts) expect(new Webhook(SECRET).verify(a.body, a.headers as Record<string, string>)).toEqual({ n: 1 });
  });

  it('sends unsigned, with the id and timestamp, when it has no secret; refuses a secret that is not whsec_', async () => {
    const unsigned = new WebhookSender(http, { secret: undefined, maxAttempts: 1 });
    expect(await unsigned.send(`${base}/ok`, message('job.canceled'))).toMatchObject({ delivered: true });
    const hit = received.at(-1)!;
    expect(hit.headers['webhook-signature']).toBeUndefined();
    expect(hit.headers['webhook-id']).toBe(webhookMessageId(JOB_ID, 'job.canceled'));
    expect(hit.headers['webhook-timestamp']).toMatch(/^\d+$/);
    expect(() => new WebhookSender(http, { secret: 'a-raw-passphrase-not-base64' })).toThrow(/whsec_/);
  });

  it('retries 5xx with backoff and stops at a 4xx', async () => {
    failuresLeft = 2;
    expect(await sender.send(`${base}/flaky`, message('job.failed'))).toMatchObject({ delivered: true, attempts: 3 });
    expect(await sender.send(`${base}/gone`, message('job.failed'))).toMatchObject({ delivered: false, attempts: 1, status: 410 });
  });

  it('treats a 3xx as final: one attempt, the redirect not followed', async () => {
    const before = received.filter((r) => r.path === '/ok').length;
    expect(await sender.send(`${base}/moved`, message('job.failed'))).toMatchObject({ delivered: false, attempts: 1, status: 302, final: true, error: expect.stringMatching(/redirect/) });
    expect(received.filter((r) => r.path === '/moved')).toHaveLength(1);
    expect(received.filter((r) => r.path === '/ok')).toHaveLength(before);
  });

  it('retries a 429 until its attempts run out, and says it was not final', async () => {
    expect(await sender.send(`${base}/slow-down`, message('job.failed'))).toMatchObject({ delivered: false, attempts: 4, status: 429 });
    expect((await sender.send(`${base}/slow-down`, message('job.failed'))).final).toBeUndefined();
  });

  it('refuses forbidden URLs without retrying', async () => {
    expect(await sender.send('http://169.254.169.254/hook', message('job.failed'))).toMatchObject({ delivered: false, attempts: 1 });
  });

  it('backs off exponentially within the cap', () => {
    expect(backoffDelayMs(0, 100, 1_000, () => 0.999)).toBeLessThan(100);
    expect(backoffDelayMs(3, 100, 1_000, () => 0.999)).toBeGreaterThan(700);
    expect(backoffDelayMs(10, 100, 1_000, () => 0.999)).toBeLessThan(1_000);
  });
});

describe('webhook classification', () => {
  it('2xx delivered; 3xx final; 4xx final except 408 and 429; 5xx retried', () => {
    for (const status of [200, 201, 202, 204, 299]) expect(classifyWebhookStatus(status)).toBe('delivered');
    for (const status of [300, 301, 302, 303, 307, 308]) expect(classifyWebhookStatus(status)).toBe('final');
    for (const status of [400, 401, 403, 404, 410, 413, 422]) expect(classifyWebhookStatus(status)).toBe('final');
    for (const status of [408, 429, 500, 502, 503, 504, 599, 100]) expect(classifyWebhookStatus(status)).toBe('retry');
  });

  it('a forbidden address is final; timeouts and connection errors are retried', () => {
    expect(classifyWebhookError(Object.assign(new Error('refused 10.0.0.1'), { code: 'FORBIDDEN_URL' }))).toBe('final');
    expect(classifyWebhookError(Object.assign(new Error('timed out'), { code: 'SOURCE_UNREACHABLE' }))).toBe('retry');
    expect(classifyWebhookError(new Error('ECONNRESET'))).toBe('retry');
  });
});

describe('durable retry schedule', () => {
  it('spreads the retries over about a day, growing, each jittered within its bounds', () => {
    const total = DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(20 * 3_600);
    expect(total).toBeLessThan(26 * 3_600);
    for (let i = 1; i < DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS.length; i++) {
      expect(DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS[i]!).toBeGreaterThan(DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS[i - 1]!);
    }
    DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS.forEach((base, i) => {
      expect(webhookRetryDelaySeconds(i, DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS, () => 0)).toBe(Math.round(base * (1 - WEBHOOK_RETRY_JITTER)));
      expect(webhookRetryDelaySeconds(i, DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS, () => 1)).toBe(Math.round(base * (1 + WEBHOOK_RETRY_JITTER)));
    });
  });

  it('ends when the schedule runs out, and never answers less than a second', () => {
    expect(webhookRetryDelaySeconds(DEFAULT_WEBHOOK_RETRY_DELAYS_SECONDS.length)).toBeUndefined();
    expect(webhookRetryDelaySeconds(2, [1, 2])).toBeUndefined();
    expect(webhookRetryDelaySeconds(0, [0], () => 0)).toBe(1);
  });
});
