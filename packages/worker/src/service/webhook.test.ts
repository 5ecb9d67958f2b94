import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook, WEBHOOK_SIGNATURE_HEADER } from '@revive/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafeHttpClient } from './source-fetch.js';
import { backoffDelayMs, WebhookSender } from './webhook.js';

const SECRET = 'a-webhook-secret-of-some-length';

describe('WebhookSender', () => {
  const received: { path: string; body: string; signature: string | undefined; event: string | undefined }[] = [];
  let failuresLeft = 2;
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const signature = req.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] as string | undefined;
      received.push({ path: req.url ?? '', body, signature, event: req.headers['revive-event'] as string | undefined });
      if (req.url === '/flaky' && failuresLeft-- > 0) return res.writeHead(503).end();
      if (req.url === '/gone') return res.writeHead(410).end();
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

  it('delivers a body signed so that the receiver can verify it', async () => {
    const outcome = await sender.send(`${base}/ok`, 'job.succeeded', { id: 'x', status: 'SUCCEEDED' });
    expect(outcome).toMatchObject({ delivered: true, attempts: 1, status: 200 });
    const hit = received.find((r) => r.path === '/ok')!;
    expect(hit.event).toBe('job.succeeded');
    expect(verifyWebhook(SECRET, hit.body, hit.signature)).toBe(true);
    expect(verifyWebhook('another-secret-of-some-length', hit.body, hit.signature)).toBe(false);
    expect(verifyWebhook(SECRET, hit.body.replace('SUCCEEDED', 'FAILED'), hit.signature)).toBe(false);
  });

  it('retries 5xx with backoff and stops at a 4xx', async () => {
    expect(await sender.send(`${base}/flaky`, 'job.failed', {})).toMatchObject({ delivered: true, attempts: 3 });
    expect(await sender.send(`${base}/gone`, 'job.failed', {})).toMatchObject({ delivered: false, attempts: 1, status: 410 });
  });

  it('refuses forbidden URLs without retrying', async () => {
    expect(await sender.send('http://169.254.169.254/hook', 'job.failed', {})).toMatchObject({ delivered: false, attempts: 1 });
  });

  it('backs off exponentially within the cap', () => {
    expect(backoffDelayMs(0, 100, 1_000, () => 0.999)).toBeLessThan(100);
    expect(backoffDelayMs(3, 100, 1_000, () => 0.999)).toBeGreaterThan(700);
    expect(backoffDelayMs(10, 100, 1_000, () => 0.999)).toBeLessThan(1_000);
  });
});
