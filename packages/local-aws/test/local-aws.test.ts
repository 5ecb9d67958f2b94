import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { TABLE_SCHEMA } from '@revive/contract';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createReviveResources, localClients, type ReviveResources } from '../src/index.js';

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
