// Starts a throwaway RADOS Gateway (./rgw.mjs) and checks the S3 behaviour the tests rely on
// and s3rver does not have. Run: node test/support/rgw.smoke.mjs (exits 1 on any failed check).

import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { s3Client, startRgw } from './rgw.mjs';

let failures = 0;
function check(name, ok, detail = '') {
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}`);
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function body(response) {
  return Buffer.from(await response.Body.transformToByteArray());
}

async function checks(rgw, client) {
  const Bucket = `smoke-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket }));
  check('create bucket', true, Bucket);

  const small = randomBytes(256 * 1024);
  const streamed = Readable.from([small.subarray(0, 1000), small.subarray(1000)]);
  await client.send(new PutObjectCommand({ Bucket, Key: 'streamed', Body: streamed, ContentLength: small.length }));
  const smallBack = await body(await client.send(new GetObjectCommand({ Bucket, Key: 'streamed' })));
  check('streamed PutObject, GetObject byte-identical', sha256(smallBack) === sha256(small), `${small.length} bytes`);

  const big = randomBytes(20 * 1024 * 1024);
  const upload = new Upload({ client, params: { Bucket, Key: 'multipart', Body: Readable.from([big]) }, partSize: 5 * 1024 * 1024 });
  await upload.done();
  const bigBack = await body(await client.send(new GetObjectCommand({ Bucket, Key: 'multipart' })));
  check('20 MB lib-storage multipart upload byte-identical', sha256(bigBack) === sha256(big));

  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: 'abandoned' }));
  await client.send(new UploadPartCommand({ Bucket, Key: 'abandoned', UploadId, PartNumber: 1, Body: randomBytes(1024) }));
  const listed = (await client.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads ?? [];
  check('ListMultipartUploads lists the open upload', listed.some((u) => u.UploadId === UploadId), `${listed.length} listed`);
  await client.send(new AbortMultipartUploadCommand({ Bucket, Key: 'abandoned', UploadId }));
  const afterAbort = (await client.send(new ListMultipartUploadsCommand({ Bucket }))).Uploads ?? [];
  check('AbortMultipartUpload, then ListMultipartUploads lists none', afterAbort.length === 0, `${afterAbort.length} listed`);

  const secret = rgw.secretAccessKey;
  const wrongKey = s3Client({ ...rgw, secretAccessKey: secret.slice(0, -1) + (secret.endsWith('x') ? 'y' : 'x') });
  const wrongKeyStatus = await wrongKey.send(new ListBucketsCommand({})).then(() => 200, (error) => error.$metadata?.httpStatusCode);
  wrongKey.destroy();
  check('signed request with a wrong secret key → 403', wrongKeyStatus === 403, String(wrongKeyStatus));

  const url = await getSignedUrl(client, new GetObjectCommand({ Bucket, Key: 'streamed' }), { expiresIn: 300 });
  const presigned = await fetch(url);
  const presignedBody = Buffer.from(await presigned.arrayBuffer());
  check('presigned GET with fetch → 200, same bytes', presigned.status === 200 && sha256(presignedBody) === sha256(small), String(presigned.status));

  const tampered = new URL(url);
  const signature = tampered.searchParams.get('X-Amz-Signature');
  tampered.searchParams.set('X-Amz-Signature', signature.slice(0, -1) + (signature.endsWith('0') ? '1' : '0'));
  const tamperedStatus = (await fetch(tampered)).status;
  check('presigned GET, one signature character changed → 403', tamperedStatus === 403, String(tamperedStatus));

  const shortLived = await getSignedUrl(client, new GetObjectCommand({ Bucket, Key: 'streamed' }), { expiresIn: 1 });
  await sleep(2500);
  const expiredStatus = (await fetch(shortLived)).status;
  check('presigned GET with expiresIn 1, fetched after 2.5 s → 403', expiredStatus === 403, String(expiredStatus));

  const bearerStatus = (await fetch(url, { headers: { Authorization: 'Bearer x' } })).status;
  check('valid presigned GET with an Authorization: Bearer header → 400', bearerStatus === 400, String(bearerStatus));

  const aes = await client.send(new PutObjectCommand({ Bucket, Key: 'aes256', Body: small, ServerSideEncryption: 'AES256' }));
  check('PutObject AES256 → 200 without echoing ServerSideEncryption (not applied)', aes.ServerSideEncryption === undefined,
    `echoed: ${aes.ServerSideEncryption ?? 'nothing'}`);

  const kmsPut = { Bucket, Key: 'kms', Body: small, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'testkey-1' };
  const kms = await client.send(new PutObjectCommand(kmsPut));
  check('PutObject aws:kms testkey-1 echoes aws:kms', kms.ServerSideEncryption === 'aws:kms',
    `echoed: ${kms.ServerSideEncryption ?? 'nothing'}, key id: ${kms.SSEKMSKeyId ?? 'none'}`);
  const kmsHead = await client.send(new HeadObjectCommand({ Bucket, Key: 'kms' }));
  check('HeadObject of the aws:kms object shows aws:kms', kmsHead.ServerSideEncryption === 'aws:kms',
    `${kmsHead.ServerSideEncryption ?? 'nothing'}, key id: ${kmsHead.SSEKMSKeyId ?? 'none'}`);
  const kmsBack = await body(await client.send(new GetObjectCommand({ Bucket, Key: 'kms' })));
  check('GetObject of the aws:kms object decrypts to the same bytes', sha256(kmsBack) === sha256(small));
}

const started = Date.now();
const rgw = await startRgw({ log: (line) => console.log(line) });
console.log(`RGW answered S3 ${((Date.now() - started) / 1000).toFixed(1)} s after start`);
const client = s3Client(rgw);
try {
  await checks(rgw, client);
} catch (error) {
  check('no unexpected error', false, error.stack);
} finally {
  client.destroy();
  const stopping = Date.now();
  await rgw.stop();
  console.log(`stopped in ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
}
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exitCode = failures ? 1 : 0;
