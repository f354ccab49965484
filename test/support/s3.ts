import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { CreateBucketCommand, ListMultipartUploadsCommand, ListObjectsV2Command, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { tempDir } from './environment.js';

export interface S3Server {
  endpoint: string;
  client: S3Client;
  /** A fresh, empty bucket. */
  createBucket(): Promise<string>;
  keys(bucket: string, prefix: string): Promise<string[]>;
  multipartUploads(bucket: string): Promise<number>;
  deleteObject(bucket: string, key: string): Promise<void>;
  stop(): Promise<void>;
}

/** The environment the AWS SDK's default credential chain reads, for s3rver. */
export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

/** An SDK client for s3rver at `endpoint`, configured as the service configures its own. */
export function s3rverClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** An S3-protocol server (s3rver) on a loopback port, storing in a temp dir. */
export async function startS3(): Promise<S3Server> {
  const directory = tempDir('s3rver-');
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const { port } = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  Object.assign(process.env, S3RVER_CREDENTIALS);
  const client = s3rverClient(endpoint);
  return {
    endpoint,
    client,
    createBucket: async () => {
      const bucket = `test-${randomBytes(6).toString('hex')}`;
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return bucket;
    },
    keys: async (bucket, prefix) =>
      ((await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!),
    multipartUploads: async (bucket) =>
      ((await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).length,
    deleteObject: async (bucket, key) => void (await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))),
    stop: async () => {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
