import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

/** The real S3 server of the test run: a Ceph RADOS Gateway that `npm test` starts (test/support/rgw.mjs). */
export interface S3Server {
  endpoint: string;
  /** AWS_* variables for the SDK's default credential chain, as the service reads them. */
  env: Record<string, string>;
  client: S3Client;
  /** A fresh, empty bucket of the test's own. */
  createBucket(): Promise<string>;
  /** Keys in a bucket under a prefix, as the S3 API lists them. */
  keys(bucket: string, prefix: string): Promise<string[]>;
  /** Multipart uploads started and neither completed nor aborted, as ListMultipartUploads reports them. */
  multipartUploads(bucket: string, prefix?: string): Promise<number>;
  deleteObject(bucket: string, key: string): Promise<void>;
  /** Deletes every object of a bucket, for tests that leave much behind: the run's RGW keeps its data in memory. */
  emptyBucket(bucket: string): Promise<void>;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with \`npm test\`, which starts a Ceph RGW S3 server`);
  return value;
}

/** An SDK client for `endpoint`, configured as the service configures its own. */
export function s3ClientFor(endpoint: string, credentials = { accessKeyId: required('TEST_S3_ACCESS_KEY_ID'), secretAccessKey: required('TEST_S3_SECRET_ACCESS_KEY') }): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

let shared: S3Server | undefined;

/** The test run's RGW; every test file makes its own buckets on it. */
export function s3Server(): S3Server {
  if (shared) return shared;
  const endpoint = required('TEST_S3_ENDPOINT');
  const client = s3ClientFor(endpoint);
  const env = {
    AWS_ACCESS_KEY_ID: required('TEST_S3_ACCESS_KEY_ID'),
    AWS_SECRET_ACCESS_KEY: required('TEST_S3_SECRET_ACCESS_KEY'),
    AWS_REGION: 'us-east-1',
  };
  // The service's SDK finds its credentials where it would in production: the default chain reads the environment.
  Object.assign(process.env, env);
  shared = {
    endpoint,
    env,
    client,
    createBucket: async () => {
      const bucket = `test-${randomBytes(6).toString('hex')}`;
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return bucket;
    },
    keys: async (bucket, prefix) =>
      ((await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!),
    multipartUploads: async (bucket, prefix) =>
      ((await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }))).Uploads ?? []).length,
    deleteObject: async (bucket, key) => void (await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))),
    emptyBucket: async (bucket) => {
      for (;;) {
        const { Contents = [] } = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
        if (Contents.length === 0) return;
        await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: Contents.map((o) => ({ Key: o.Key! })) } }));
      }
    },
  };
  return shared;
}
