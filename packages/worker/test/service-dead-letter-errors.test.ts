// Issue 18 point 11: under `pnpm start` a DLQ consumer whose handling throws said nothing. Each failure is now logged
// with its error, once per delivery, and the consumer keeps polling: here its table does not exist at first (every
// delivery fails), then appears, and the same message is then handled and leaves the DLQ.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

import { randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createReviveResources } from '@revive/local-aws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
// The consumer is the local stack's (the DLQ Lambda's handler in an in-process loop): what these tests drive.
import { startLocalDeadLetterConsumer, type RunningDeadLetterConsumer } from '../../dev-stack/src/dead-letter-consumer.js';
import { createStack, queueDepth, sleep, type Stack } from './service-helpers.js';

/** Ceiling for one awaited event on a loaded machine; never a sleep. */
const EVENT_TIMEOUT_MS = 60_000;

interface Logged {
  readonly message: string;
  readonly extra: { messageId?: string; receiveCount?: number; error?: Error };
}

let stack: Stack;
let consumer: RunningDeadLetterConsumer | undefined;

beforeAll(async () => {
  stack = await createStack(inject('localAws'), { visibilityTimeoutSeconds: 6 });
});

afterAll(async () => {
  await consumer?.stop();
  stack?.destroy();
});

describe('DLQ consumer errors are logged, and it keeps going', () => {
  it('logs each failed delivery once with its error, then handles the message once the table is there', async () => {
    const prefix = `dlq-err-${randomUUID().slice(0, 8)}`;
    const logged: Logged[] = [];
    let onLog: () => void = () => undefined;
    consumer = startLocalDeadLetterConsumer({
      dlqUrl: stack.resources.dlqUrl,
      sqs: stack.clients.sqs,
      dynamodb: stack.clients.dynamodb,
      // createReviveResources names its table `${prefix}-jobs`; it is created only later.
      env: { REVIVE_TABLE_NAME: `${prefix}-jobs` },
      retryAfterSeconds: 1,
      logger: {
        error: ((message: string, extra: Logged['extra']) => {
          logged.push({ message, extra });
          onLog();
        }) as never,
      },
    });
    const sent = await stack.clients.sqs.send(
      new SendMessageCommand({ QueueUrl: stack.resources.dlqUrl, MessageBody: JSON.stringify({ jobId: randomUUID(), tenantId: 'tenant-dlq-errors' }) }),
    );
    // Two deliveries failed, each logged.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fewer than 2 errors logged within ${EVENT_TIMEOUT_MS} ms: ${JSON.stringify(logged)}`)), EVENT_TIMEOUT_MS);
      onLog = () => {
        if (logged.length >= 2) {
          clearTimeout(timer);
          resolve();
        }
      };
      onLog();
    });
    const failures = logged.filter((l) => l.extra.messageId === sent.MessageId);
    expect(failures.length).toBeGreaterThanOrEqual(2);
    for (const failure of failures) {
      expect(failure.message).toMatch(/handling a message failed/);
      // The store's own error, with DynamoDB's as its cause: what an operator needs to see.
      const chain: string[] = [];
      for (let e: unknown = failure.extra.error; e instanceof Error; e = e.cause) chain.push(e.name);
      expect(chain).toContain('ResourceNotFoundException');
    }
    // Once per failure: one line per delivery, never two for the same one.
    const counts = failures.map((f) => f.extra.receiveCount);
    expect(new Set(counts).size).toBe(counts.length);

    // The loop kept going: once the table exists, the next delivery is handled (the job is unknown: nothing to mark)
    // and the message leaves the DLQ.
    const later = await createReviveResources(stack.target, { prefix });
    expect(later.tableName).toBe(`${prefix}-jobs`);
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    while ((await queueDepth(stack, stack.resources.dlqUrl)) > 0 && Date.now() < deadline) await sleep(200);
    expect(await queueDepth(stack, stack.resources.dlqUrl)).toBe(0);
  });
});
