import { BUCKET_PREFIXES, TABLE_SCHEMA } from '@revive/contract';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** How long a browser may cache a CORS preflight answer for uploads. */
const CORS_MAX_AGE_SECONDS = 3000;
/**
 * Multipart uploads never completed nor aborted (a video upload the browser abandoned, a worker's ZIP or segment
 * killed mid-upload) are dropped after this; their parts are billed until then. @default 1
 */
export const ABORT_INCOMPLETE_UPLOAD_DAYS = 1;
/**
 * A video's segments are deleted by the fan-in once the video is assembled; this rule is the backstop for a job that
 * never got there (a crash, a canceled video). Past the longest a video job runs (hours), well short of a result's
 * life. @default 2
 */
export const SEGMENT_EXPIRY_DAYS = 2;
/** @default 90 */
export const DEFAULT_ACCESS_LOG_EXPIRY_DAYS = 90;

export interface JobStorageProps {
  /** Days after which uploaded photos are deleted. */
  readonly uploadExpiryDays: number;
  /** Days after which restored photos are deleted. */
  readonly resultExpiryDays: number;
  /** Origins allowed to POST presigned uploads from a browser. @default [] (no CORS rule) */
  readonly corsAllowedOrigins?: readonly string[];
  /** @default RemovalPolicy.RETAIN: job data outlives a stack deletion by mistake */
  readonly removalPolicy?: RemovalPolicy;
  /** Days the job bucket's server access logs are kept. @default 90 */
  readonly accessLogExpiryDays?: number;
  /**
   * Pre-warmed on-demand throughput of the table and both indexes, for a launch that starts at full rate (a new
   * on-demand table serves 4,000 writes/s at first). A one-time charge; TableV2 has no L2 property for it yet.
   * @default none
   */
  readonly warmWritesPerSecond?: number;
}

/** The job bucket (uploads/ and results/) and the job table. */
export class JobStorage extends Construct {
  public readonly bucket: s3.Bucket;
  /** Server access logs of the job bucket. */
  public readonly accessLogsBucket: s3.Bucket;
  public readonly table: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: JobStorageProps) {
    super(scope, id);
    if (!Number.isInteger(props.uploadExpiryDays) || props.uploadExpiryDays < 1) {
      throw new Error(`JobStorage: uploadExpiryDays must be a whole number ≥ 1 (got ${props.uploadExpiryDays})`);
    }
    if (!Number.isInteger(props.resultExpiryDays) || props.resultExpiryDays < 1) {
      throw new Error(`JobStorage: resultExpiryDays must be a whole number ≥ 1 (got ${props.resultExpiryDays})`);
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const origins = props.corsAllowedOrigins ?? [];

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      removalPolicy,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(props.accessLogExpiryDays ?? DEFAULT_ACCESS_LOG_EXPIRY_DAYS) }],
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'job-bucket/',
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      removalPolicy,
      lifecycleRules: [
        {
          id: 'expire-uploads',
          prefix: BUCKET_PREFIXES.uploads,
          expiration: Duration.days(props.uploadExpiryDays),
        },
        {
          id: 'expire-results',
          prefix: BUCKET_PREFIXES.results,
          expiration: Duration.days(props.resultExpiryDays),
        },
        // Album ZIPs are results (`<results key>.zip`), so expire-results covers them.
        {
          id: 'expire-segments',
          prefix: BUCKET_PREFIXES.segments,
          expiration: Duration.days(SEGMENT_EXPIRY_DAYS),
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(ABORT_INCOMPLETE_UPLOAD_DAYS) },
      ],
      // Presigned POST uploads (photos) and presigned part PUTs (videos) come straight from the browser, which reads
      // each part's ETag; results are fetched with presigned GETs.
      ...(origins.length > 0
        ? {
            cors: [
              {
                allowedMethods: [s3.HttpMethods.POST, s3.HttpMethods.PUT, s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                allowedOrigins: [...origins],
                allowedHeaders: ['*'],
                exposedHeaders: ['ETag'],
                maxAge: CORS_MAX_AGE_SECONDS,
              },
            ],
          }
        : {}),
    });

    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE_SCHEMA.ttlAttribute,
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
      globalSecondaryIndexes: [
        {
          indexName: TABLE_SCHEMA.tenantIndex.name,
          partitionKey: { name: TABLE_SCHEMA.tenantIndex.partitionKey, type: dynamodb.AttributeType.STRING },
          sortKey: { name: TABLE_SCHEMA.tenantIndex.sortKey, type: dynamodb.AttributeType.STRING },
          // Only what GET /jobs returns: a heartbeat (leaseExpiresAt) or an outbox mark then writes the table alone,
          // and one tenant's write rate is not capped by the index partition copying every update.
          projectionType: dynamodb.ProjectionType.INCLUDE,
          nonKeyAttributes: [...TABLE_SCHEMA.tenantIndex.projected],
        },
        {
          // Sparse: only records whose message may not be sent yet carry these attributes (the API's outbox).
          // Keys only: the sweeper re-reads each record consistently before it acts. The partition key is one of
          // 16 shards (pendingShardKey): one constant key would cap all creates near 500/s.
          indexName: TABLE_SCHEMA.pendingIndex.name,
          partitionKey: { name: TABLE_SCHEMA.pendingIndex.partitionKey, type: dynamodb.AttributeType.STRING },
          sortKey: { name: TABLE_SCHEMA.pendingIndex.sortKey, type: dynamodb.AttributeType.NUMBER },
          projectionType: dynamodb.ProjectionType.KEYS_ONLY,
        },
      ],
    });
    if (props.warmWritesPerSecond !== undefined) {
      const warm = { writeUnitsPerSecond: props.warmWritesPerSecond, readUnitsPerSecond: 3 * props.warmWritesPerSecond };
      const cfn = this.table.node.defaultChild as dynamodb.CfnGlobalTable;
      cfn.warmThroughput = warm;
      cfn.addPropertyOverride('GlobalSecondaryIndexes.0.WarmThroughput', { WriteUnitsPerSecond: warm.writeUnitsPerSecond, ReadUnitsPerSecond: warm.readUnitsPerSecond });
      cfn.addPropertyOverride('GlobalSecondaryIndexes.1.WarmThroughput', { WriteUnitsPerSecond: warm.writeUnitsPerSecond, ReadUnitsPerSecond: warm.readUnitsPerSecond });
    }
  }
}
