import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { UnfinishedUploadSweeper } from '../../libs/file-storage/src/application/unfinished-upload.sweeper.js';
import { freePort, newOrganizationId, randomSecret, scratchDatabase, tempDir } from '../support/environment.js';
import { eventually } from '../support/http.js';
import { s3Server } from '../support/s3.js';
import { startTestApp, storeProfile } from '../support/test-app.js';
import { MiB, mp4With, sendUpload } from '../support/upload-client.js';

/**
 * The built service killed with SIGKILL in the middle of four 20 MiB uploads:
 * what the writes left (S3 multipart uploads, temp files, pending rows) is
 * found and removed by the unfinished-upload sweeper of the next instance,
 * and nothing of it is ever served.
 */

const onS3 = storeProfile() === 's3-clamav';
const UPLOADS = 4;
const KILL_AT = 12 * MiB; // past the first 8 MiB part: on S3 a multipart upload is open

it('leaves nothing behind once the next instance has swept what a SIGKILL interrupted', async () => {
  const database = await scratchDatabase();
  const dataDir = tempDir('crash-');
  const bucket = onS3 ? await s3Server().createBucket() : undefined;
  const storage: Record<string, string> = onS3
    ? { ...s3Server().env, STORAGE_DRIVER: 's3', S3_BUCKET: bucket!, AWS_ENDPOINT_URL_S3: s3Server().endpoint, S3_FORCE_PATH_STYLE: 'true' }
    : {};
  const secret = randomSecret();
  const port = await freePort();
  const service: ChildProcess = spawn(process.execPath, ['dist/apps/api/src/main.js'], {
    env: { ...process.env, ...storage, PORT: String(port), DATABASE_URL: database.url, DATA_DIR: dataDir, JWT_SECRET: secret, LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const org = newOrganizationId();
  try {
    await eventually(async () => expect((await fetch(`${baseUrl}/health/ready`)).status).toBe(200), 30_000);
    const token = await new SignJWT({ org_id: org }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(secret));

    let arrived = 0;
    let killed!: () => void;
    const allThere = new Promise<void>((resolve) => (killed = resolve));
    const uploads = Array.from({ length: UPLOADS }, () =>
      sendUpload(
        baseUrl,
        { fileName: 'procedure.mp4', contentType: 'video/mp4', size: 20 * MiB, content: mp4With() },
        {
          token,
          at: {
            offset: KILL_AT,
            run: async () => {
              if (++arrived === UPLOADS) {
                // Give the service a moment to pass the bytes on, then kill it mid-write.
                await new Promise((r) => setTimeout(r, 500));
                service.kill('SIGKILL');
                killed();
              }
              await allThere;
            },
          },
        },
      ).then(
        () => 'answered',
        () => 'cut off',
      ),
    );
    expect(await Promise.all(uploads)).toEqual(Array(UPLOADS).fill('cut off'));

    const app = await startTestApp({ ...storage, DATABASE_URL: database.url }, onS3 ? 's3-clamav' : 'fs', { dataDir });
    try {
      const rows = await app.rowsOf(org);
      expect(rows.length).toBe(UPLOADS);
      expect(rows.every((r) => r.status === 'pending')).toBe(true);
      const leftovers = async () => (onS3 ? s3Server().multipartUploads(bucket!) : tempFiles(dataDir).length);
      expect(await leftovers()).toBeGreaterThan(0);

      // As the sweeper finds them once PENDING_UPLOAD_TTL_SECONDS have passed.
      const sweeper = app.app.get(UnfinishedUploadSweeper, { strict: false });
      expect(await sweeper.sweep(new Date(Date.now() + app.config.uploads.pendingTtlSeconds * 1000 + 1000))).toBe(UPLOADS);
      expect(await leftovers()).toBe(0);
      expect(await app.rowsOf(org)).toEqual([]);
      expect(await app.storedKeys(org)).toEqual([]);
    } finally {
      await app.close();
    }
  } finally {
    if (service.exitCode === null && service.signalCode === null) service.kill('SIGKILL');
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}, 120_000);

function tempFiles(dataDir: string): string[] {
  const dir = join(dataDir, 'objects', '.tmp');
  return existsSync(dir) ? readdirSync(dir) : [];
}
