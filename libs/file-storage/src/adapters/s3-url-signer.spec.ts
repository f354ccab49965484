import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import { create as contentDisposition } from 'content-disposition';
import { S3UrlSigner } from './s3-url-signer.js';

type Credentials = AwsCredentialIdentity;

function client(options: { endpoint?: string; forcePathStyle?: boolean; region?: string; credentials: Credentials | (() => Promise<Credentials>) }) {
  return new S3Client({
    region: options.region ?? 'eu-central-1',
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? false,
    credentials: options.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

const NAMES = ['lab report.pdf', 'Röntgen (links) 2026-04-21.png', 'wound;photo".jpg', '检查报告.pdf', "o'neil & co!*.txt", 'a'.repeat(200) + '.mp4'];
const TYPES = ['application/pdf', 'image/png', 'text/plain; charset=utf-8', 'video/mp4'];
const pick = <T>(list: readonly T[]) => list[randomBytes(1)[0]! % list.length]!;

describe('S3UrlSigner', () => {
  const setups = [
    { name: 'a custom endpoint, path-style', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, bucket: 'attachments' },
    { name: 'a custom endpoint with a port, virtual-hosted', endpoint: 'https://s3.example.org:8443', forcePathStyle: false, bucket: 'attachments' },
    { name: 'AWS, virtual-hosted', bucket: 'clinical-attachments-prod' },
    { name: 'AWS, a bucket with dots', bucket: 'files.hospital.example', region: 'us-east-1' },
    { name: 'AWS, forced path-style', forcePathStyle: true, bucket: 'clinical-attachments', region: 'ap-southeast-2' },
  ];

  it.each(setups)('makes exactly the URL getSignedUrl makes, for 200 random requests ($name)', async (setup) => {
    // Two identities, one with a session token, taking turns: the signer keeps a signing key per credentials and day.
    // They expire within the SDK's refresh window, so that it asks the provider again for every URL.
    const expiration = new Date(Date.now() + 120_000);
    const identities: Credentials[] = [
      { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'FwoGZXIvYXdzEXAMPLE//token+/=', expiration },
      { accessKeyId: 'AKIAOTHER', secretAccessKey: 'c2VjcmV0/with+slashes=', expiration },
    ];
    let credentials = identities[0]!;
    const s3 = client({ ...setup, credentials: async () => credentials });
    const signer = new S3UrlSigner(s3, setup.bucket);
    const signedWith = new Set<string>();
    for (let i = 0; i < 200; i++) {
      credentials = pick(identities);
      const key = `org-${randomBytes(3).toString('hex')}/${randomBytes(16).toString('hex')}.${pick(['pdf', 'png', 'txt', 'mp4'])}`;
      const method = pick(['GET', 'HEAD'] as const);
      const options = {
        method,
        expiresInSeconds: pick([1, 60, 600, 604_800]),
        contentType: pick(TYPES),
        contentDisposition: contentDisposition(pick(NAMES), { type: pick(['attachment', 'inline']) }),
      };
      // Around midnight of three days, so that the day of the signing key changes between URLs; more than a
      // week before the credentials expire, so that they outlive every URL.
      const signingDate = new Date(Date.UTC(2026, 9, 28 + (randomBytes(1)[0]! % 3), 23, 59, 30 + (randomBytes(1)[0]! % 60)));
      const input = { Bucket: setup.bucket, Key: key, ResponseContentType: options.contentType, ResponseContentDisposition: options.contentDisposition };
      const command = method === 'GET' ? new GetObjectCommand(input) : new HeadObjectCommand(input);
      const expected = await getSignedUrl(s3, command, { expiresIn: options.expiresInSeconds, signingDate });
      expect(await signer.sign(key, options, signingDate)).toBe(expected);
      signedWith.add(new URL(expected).searchParams.get('X-Amz-Credential')!.split('/').slice(0, 2).join('/'));
    }
    // Both identities, each on the three days and the one after the last midnight.
    expect(signedWith.size).toBe(8);
  });

  it('signs with the secret the credentials hold now, also when they were changed in place', async () => {
    const credentials = { accessKeyId: 'AKID1', secretAccessKey: 'SECRET1' };
    const s3 = client({ endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentials });
    const signer = new S3UrlSigner(s3, 'b');
    const options = { method: 'GET' as const, expiresInSeconds: 600, contentType: 'application/pdf', contentDisposition: 'attachment' };
    const key = 'org-1/0123456789abcdef0123456789abcdef.pdf';
    const signingDate = new Date(Date.UTC(2026, 9, 28, 12));
    const expected = () =>
      getSignedUrl(s3, new GetObjectCommand({ Bucket: 'b', Key: key, ResponseContentType: 'application/pdf', ResponseContentDisposition: 'attachment' }), { expiresIn: 600, signingDate });
    const before = await signer.sign(key, options, signingDate);
    expect(before).toBe(await expected());
    credentials.secretAccessKey = 'SECRET2';
    const after = await signer.sign(key, options, signingDate);
    expect(after).toBe(await expected());
    expect(after).not.toBe(before);
  });

  it('refuses, as getSignedUrl does, a URL that would live longer than a week', async () => {
    const s3 = client({ endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' } });
    const options = { method: 'GET' as const, expiresInSeconds: 604_801, contentType: 'application/pdf', contentDisposition: 'attachment' };
    await expect(new S3UrlSigner(s3, 'b').sign('org-1/0123456789abcdef0123456789abcdef.pdf', options)).rejects.toThrow(/week/);
    await expect(getSignedUrl(s3, new GetObjectCommand({ Bucket: 'b', Key: 'k' }), { expiresIn: 604_801 })).rejects.toThrow(/week/);
  });

  describe('with temporary credentials', () => {
    const now = new Date();
    const expiringIn = (ms: number, id: string): Credentials => ({
      accessKeyId: id,
      secretAccessKey: 'secret',
      sessionToken: 'token',
      expiration: new Date(now.getTime() + ms),
    });
    const options = { method: 'GET' as const, expiresInSeconds: 600, contentType: 'application/pdf', contentDisposition: 'attachment' };

    it('refreshes credentials that would expire before the URL, and signs with the fresh ones', async () => {
      // The SDK's own cache refreshes only 5 minutes before expiry: 7 minutes left is "fresh" to it.
      const issued = [expiringIn(7 * 60_000, 'ASIAOLD'), expiringIn(60 * 60_000, 'ASIANEW')];
      const provider = jest.fn(async () => issued.shift()!);
      const signer = new S3UrlSigner(client({ endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentials: provider }), 'b');
      const url = new URL(await signer.sign('org-1/0123456789abcdef0123456789abcdef.pdf', options, now));
      expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^ASIANEW\//);
      expect(url.searchParams.get('X-Amz-Expires')).toBe('600');
      expect(provider).toHaveBeenCalledTimes(2);
    });

    it('keeps credentials that outlive the URL', async () => {
      const provider = jest.fn(async () => expiringIn(30 * 60_000, 'ASIALONG'));
      const signer = new S3UrlSigner(client({ endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentials: provider }), 'b');
      await signer.sign('org-1/0123456789abcdef0123456789abcdef.pdf', options, now);
      await signer.sign('org-1/0123456789abcdef0123456789abcdef.pdf', options, now);
      expect(provider).toHaveBeenCalledTimes(1);
    });

    it('signs for no longer than the credentials live when no fresher ones can be had', async () => {
      const provider = jest.fn(async () => expiringIn(4 * 60_000, 'ASIASHORT'));
      const signer = new S3UrlSigner(client({ endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentials: provider }), 'b');
      const url = new URL(await signer.sign('org-1/0123456789abcdef0123456789abcdef.pdf', options, now));
      expect(Number(url.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(3 * 60);
    });
  });
});
