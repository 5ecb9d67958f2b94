import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { TABLE_SCHEMA } from '@revive/contract';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createReviveResources, LOCAL_CREDENTIALS, localClients, LOOPBACK_HOST, startLocalAws, type DynamoEngine, type ReviveResources } from '../src/index.js';

const target = inject('localAws');
const clients = localClients(target);
let resources: ReviveResources;

beforeAll(async () => {
  resources = await createReviveResources(target, { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 });
});
afterAll(() => {
  clients.sqs.destroy();
  clients.s3.destroy();
  clients.dynamodb.destroy();
});

describe('local AWS resources', () => {
  it('creates the table with the contract key, tenant index, sparse pending-enqueue index and TTL', async () => {
    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: resources.tableName }));
    expect(Table?.KeySchema).toEqual([{ AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' }]);
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName).sort()).toEqual([TABLE_SCHEMA.tenantIndex.name, TABLE_SCHEMA.pendingIndex.name].sort());
    const pending = Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === TABLE_SCHEMA.pendingIndex.name);
    expect(pending?.KeySchema).toEqual([
      { AttributeName: TABLE_SCHEMA.pendingIndex.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE_SCHEMA.pendingIndex.sortKey, KeyType: 'RANGE' },
    ]);
    expect(Table?.AttributeDefinitions).toContainEqual({ AttributeName: TABLE_SCHEMA.pendingIndex.sortKey, AttributeType: 'N' });
    if (target.dynamoEngine === 'dynamodb-local') {
      const ttl = await clients.dynamodb.send(new DescribeTimeToLiveCommand({ TableName: resources.tableName }));
      expect(ttl.TimeToLiveDescription?.AttributeName).toBe(TABLE_SCHEMA.ttlAttribute);
    }
  });

  it('stores and returns S3 objects byte for byte', async () => {
    const body = new Uint8Array(200_000).map((_, i) => (i * 7) % 256);
    await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucketName, Key: 'uploads/t/x', Body: body }));
    const got = await clients.s3.send(new GetObjectCommand({ Bucket: resources.bucketName, Key: 'uploads/t/x' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.from(body))).toBe(true);
  });

  it('moves a message to the dead-letter queue after maxReceiveCount deliveries', async () => {
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: resources.queueUrl, MessageBody: 'poison' }));
    let deliveries = 0;
    // Each receive after the visibility timeout is a new delivery; the one after the last allowed delivery moves it.
    for (let i = 0; i < 6; i++) {
      const r = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.queueUrl, WaitTimeSeconds: 2, VisibilityTimeout: 1 }));
      deliveries += r.Messages?.length ?? 0;
      if (deliveries === 2 && !r.Messages?.length) break;
    }
    expect(deliveries).toBe(2);
    const dead = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.dlqUrl, WaitTimeSeconds: 2 }));
    expect(dead.Messages?.[0]?.Body).toBe('poison');
    await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: resources.dlqUrl, ReceiptHandle: dead.Messages![0]!.ReceiptHandle! }));
  });
});

/** Local addresses of the TCP sockets listening on `port`, from /proc/net/tcp{,6} (Linux), as `ss -ltn` shows them. */
function listenAddresses(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || local === undefined) continue; // 0A: LISTEN
      const [hex = '', portHex = ''] = local.split(':');
      if (parseInt(portHex, 16) !== port) continue;
      if (hex.length === 8) {
        found.push(hex.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.'));
      } else {
        // IPv6 in /proc: four little-endian 32-bit words.
        const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(''));
        found.push(words.join('').replace(/(.{4})/g, '$1:').slice(0, -1));
      }
    }
  }
  return found;
}

describe('the emulators listen on loopback only', () => {
  it.runIf(process.platform === 'linux')('binds fauxqs and DynamoDB Local to 127.0.0.1, not every interface', async () => {
    const aws = await startLocalAws();
    try {
      for (const endpoint of [aws.endpoints.s3, aws.endpoints.dynamodb]) {
        const addresses = listenAddresses(Number(new URL(endpoint).port));
        expect(addresses.length, endpoint).toBeGreaterThan(0);
        // 0.0.0.0 or :: would expose local data to the network; ::ffff:7f00:1 would still be loopback.
        for (const address of addresses) expect(address, endpoint).toMatch(/^127\.0\.0\.1$|^0000:0000:0000:0000:0000:ffff:7f00:0001$/);
      }
    } finally {
      await aws.stop();
    }
  });
});

describe('S3 bodies up to the API\'s upload limit', () => {
  it('stores and returns a 20 MiB + 1 byte object in one PutObject (fauxqs alone stops at 11 MiB)', async () => {
    const body = new Uint8Array(20 * 1024 * 1024 + 1).map((_, i) => (i * 31) % 251);
    await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucketName, Key: 'uploads/t/large', Body: body }));
    const got = await clients.s3.send(new GetObjectCommand({ Bucket: resources.bucketName, Key: 'uploads/t/large' }));
    const bytes = await got.Body!.transformToByteArray();
    expect(bytes.length).toBe(body.length);
    expect(Buffer.from(bytes).equals(Buffer.from(body))).toBe(true);
  });
});

/** Pids of this process's live children running DynamoDB Local (Linux /proc). */
function dynamoChildren(): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('DynamoDbLocalLoopback')) found.push(Number(name));
    } catch {
      // Gone between readdir and read.
    }
  }
  return found;
}

async function listenable(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, LOOPBACK_HOST, () => server.close(() => resolve(true)));
  });
}

/** The scheduler state (R, S, D, T…) of each thread of `pid`, from /proc/<pid>/task/<tid>/stat; [] where there is no /proc. */
function threadStates(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
    });
  } catch {
    return [];
  }
}

/** Process group of `pid` (field 5 of /proc/<pid>/stat). */
function processGroup(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

describe('Ctrl-C does not reach DynamoDB Local', () => {
  it.runIf(process.platform === 'linux')('runs the JVM in its own process group, and stop() still ends it', async () => {
    const aws = await startLocalAws({ dynamo: 'dynamodb-local' });
    const pid = aws.dynamoPid!;
    try {
      // A terminal's Ctrl-C signals the foreground group (this process's); the harness stops the JVM itself, last.
      expect(processGroup(pid)).toBe(pid);
      expect(processGroup(pid)).not.toBe(processGroup(process.pid));
    } finally {
      await aws.stop();
    }
    expect(dynamoChildren()).toEqual([]);
  });
});

describe('a failed start cleans up what it started', () => {
  it.runIf(process.platform === 'linux')('reaps DynamoDB Local after its start timeout before falling back to dynalite', async () => {
    const aws = await startLocalAws({ dynamoStartTimeoutMs: 1 });
    try {
      expect(aws.dynamoEngine).toBe('dynalite');
      expect(dynamoChildren()).toEqual([]);
    } finally {
      await aws.stop();
    }
  });

  it('stops fauxqs when the DynamoDB emulator cannot start', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, LOOPBACK_HOST, () => resolve()));
    const sqsS3 = createServer();
    await new Promise<void>((resolve) => sqsS3.listen(0, LOOPBACK_HOST, () => resolve()));
    const sqsS3Port = (sqsS3.address() as AddressInfo).port;
    await new Promise((resolve) => sqsS3.close(resolve));
    try {
      // dynalite cannot listen on a port that is taken: startLocalAws must throw and leave fauxqs stopped.
      await expect(startLocalAws({ dynamo: 'dynalite', dynamoPort: (blocker.address() as AddressInfo).port, sqsS3Port })).rejects.toThrow();
      expect(await listenable(sqsS3Port)).toBe(true);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('pausing DynamoDB: a stalled table for tests', () => {
  it.each<DynamoEngine>(['dynamodb-local', 'dynalite'])('%s answers nothing while paused, and the requests sent meanwhile once resumed', async (engine) => {
    const aws = await startLocalAws({ dynamo: engine });
    const options = { endpoint: aws.endpoints.dynamodb, region: aws.region, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 };
    const patient = new DynamoDBClient(options);
    const hasty = new DynamoDBClient({ ...options, requestHandler: { requestTimeout: 500, throwOnRequestTimeout: true } });
    try {
      expect(aws.dynamoEngine).toBe(engine);
      await patient.send(new ListTablesCommand({}));
      await aws.pauseDynamo();
      // dynalite runs in this process: it has no threads of its own to read.
      const states = engine === 'dynamodb-local' ? threadStates(aws.dynamoPid!) : [];
      if (engine === 'dynamodb-local' && process.platform === 'linux') expect(states.every((state) => state === 'T' || state === 't'), states.join('')).toBe(true);
      const waiting = patient.send(new ListTablesCommand({}));
      // Connections are still accepted (the kernel's backlog, or dynalite's server), but nothing answers.
      const answer = await hasty.send(new ListTablesCommand({})).then(
        (output) => ({ answered: output, threads: states, after: engine === 'dynamodb-local' ? threadStates(aws.dynamoPid!) : [] }),
        (error: unknown) => error,
      );
      expect(answer, 'a paused DynamoDB answered (thread states before and after the request are in the object)').toMatchObject({ name: 'TimeoutError' });
      aws.resumeDynamo();
      await expect(waiting).resolves.toMatchObject({ TableNames: expect.any(Array) });
      await expect(hasty.send(new ListTablesCommand({}))).resolves.toMatchObject({ TableNames: expect.any(Array) });
    } finally {
      aws.resumeDynamo();
      patient.destroy();
      hasty.destroy();
      await aws.stop();
    }
  });
});
