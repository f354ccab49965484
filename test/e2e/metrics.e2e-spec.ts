import { spawnSync } from 'node:child_process';
import request from 'supertest';
import { jest } from '@jest/globals';
import { SIGNED_PATH_PREFIX } from '@app/file-storage';
import { OrphanFileSweeper } from '../../libs/fhir/src/application/orphan-file.sweeper.js';
import { ApiClient } from '../support/api.js';
import { scratchDatabase } from '../support/environment.js';
import { abortUploadMidway, eventually } from '../support/http.js';
import { resourceWith } from '../support/fhir.js';
import { samples } from '../support/sample-files.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { MiB, mp4With, sendUpload, textWith } from '../support/upload-client.js';

const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*');
const ORG = 'org-metrics-7f3a';
const OTHER_ORG = 'org-metrics-other-91c2';

/**
 * What an on-call engineer alerts on, written by the real app with a real
 * clamd, Postgres (a database of its own: the orphan sweep crosses
 * organizations) and the fs store, read back from /metrics as Prometheus
 * scrapes it. Each check compares the value before and after the action
 * that should move it.
 */
let t: TestApp;
let db: Awaited<ReturnType<typeof scratchDatabase>>;
let client: ApiClient;

beforeAll(async () => {
  db = await scratchDatabase();
  t = await startTestApp({ DATABASE_URL: db.url, ORPHAN_GRACE_HOURS: '1', MAX_UPLOAD_BYTES: String(20 * MiB) }, 'fs', { clamd: true, faults: true });
  client = await ApiClient.for(t, ORG);
}, 60_000);

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

async function scrape(): Promise<string> {
  const res = await request(t.baseUrl).get('/metrics').expect(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text;
}

/** The value of one series; a series never written is 0, as Prometheus' increase() treats it. */
function valueOf(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels);
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const has = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (wanted.every(([k, v]) => has[k] === v)) {
      total += Number(m[3]);
      found = true;
    }
  }
  return found ? total : 0;
}

/** How much `act` moved each of the series. */
async function delta(series: Array<[string, Record<string, string>?]>, act: () => Promise<unknown>): Promise<number[]> {
  const before = await scrape();
  await act();
  const after = await scrape();
  return series.map(([name, labels]) => valueOf(after, name, labels) - valueOf(before, name, labels));
}

const upload = (name: string, size: number, content: Parameters<typeof sendUpload>[1]['content'], contentType?: string) =>
  sendUpload(t.baseUrl, { fileName: name, size, content, contentType }, { token: client.token });

describe('uploads', () => {
  it('counts a stored upload, its bytes and its clean scan', async () => {
    const size = 3 * MiB;
    const [stored, bytes, scans] = await delta(
      [['attachments_uploads_total', { status: '201', reason: '' }], ['attachments_stored_bytes_total'], ['attachments_scan_duration_seconds_count', { verdict: 'clean' }]],
      async () => expect((await upload('procedure.mp4', size, mp4With())).status).toBe(201),
    );
    expect([stored, bytes, scans]).toEqual([1, size, 1]);
  });

  it('counts each 415 by the check that refused it, the bad byte late in a large body', async () => {
    const [notText, mismatch, declared] = await delta(
      [
        ['attachments_uploads_total', { status: '415', reason: 'not_text' }],
        ['attachments_uploads_total', { status: '415', reason: 'content_mismatch' }],
        ['attachments_uploads_total', { status: '415', reason: 'declared_type_mismatch' }],
      ],
      async () => {
        expect((await upload('results.txt', 8 * MiB, textWith(Buffer.from([0]), 8 * MiB - 10))).status).toBe(415);
        expect((await upload('scan.pdf', 2 * MiB, mp4With())).status).toBe(415);
        expect((await upload('clip.mp4', 2 * MiB, mp4With(), 'application/pdf')).status).toBe(415);
      },
    );
    expect([notText, mismatch, declared]).toEqual([1, 1, 1]);
  });

  it('counts an infected upload as 422 and its scan as infected', async () => {
    const [refused, infected] = await delta(
      [['attachments_uploads_total', { status: '422', reason: 'infected_file' }], ['attachments_scan_duration_seconds_count', { verdict: 'infected' }]],
      async () => expect((await upload('wound.mp4', 6 * MiB, mp4With(EICAR, 5 * MiB))).status).toBe(422),
    );
    expect([refused, infected]).toEqual([1, 1]);
  });

  it('counts a file over the limit as 413, whether announced or found while streaming', async () => {
    const [tooLarge] = await delta([['attachments_uploads_total', { status: '413', reason: 'file_too_large' }]], async () => {
      expect((await upload('long.mp4', 21 * MiB, mp4With())).status).toBe(413);
      const chunked = await sendUpload(t.baseUrl, { fileName: 'long.mp4', size: 21 * MiB, content: mp4With() }, { token: client.token, chunked: true });
      expect(chunked.status).toBe(413);
    });
    expect(tooLarge).toBe(2);
  });

  it('counts a 503 by its cause when clamd goes down, and the scan as failed', async () => {
    t.faults!.scanner!.set('down');
    try {
      const [unavailable, failed] = await delta(
        [['attachments_uploads_total', { status: '503', reason: 'scanner_unavailable' }], ['attachments_scan_duration_seconds_count', { verdict: 'failed' }]],
        async () => expect((await upload('clip.mp4', 4 * MiB, mp4With())).status).toBe(503),
      );
      expect([unavailable, failed]).toEqual([1, 1]);
    } finally {
      t.faults!.scanner!.set('pass');
    }
  });

  it('counts an upload whose client went away as aborted', async () => {
    const series: [string, Record<string, string>] = ['attachments_uploads_total', { status: 'aborted', reason: 'client_gone' }];
    const before = valueOf(await scrape(), ...series);
    await abortUploadMidway(t.baseUrl, client.token, 4 * MiB, 12 * MiB, 'reset');
    // Counted when the server sees the connection reset, which may come after the client has gone.
    await eventually(async () => expect(valueOf(await scrape(), ...series) - before).toBe(1));
  });
});

describe('signed URLs and redirects', () => {
  it('counts each 307, each signed URL redeemed, and each refused by why', async () => {
    const file = await client.upload(samples.pdf, 'report.pdf');
    const created = await client.write('post', '/DocumentReference', resourceWith('DocumentReference', [{ url: file.url, contentType: 'application/pdf' }])).expect(201);
    const id = JSON.parse(created.text).id as string;
    const [redirects, redeemed, badSignature, expired] = await delta(
      [
        ['attachments_redirects_total', { resource_type: 'DocumentReference', target: 'signed', disposition: 'inline' }],
        ['attachments_signed_url_requests_total', { outcome: 'redeemed' }],
        ['attachments_signed_url_requests_total', { outcome: 'refused', reason: 'bad_signature' }],
        ['attachments_signed_url_requests_total', { outcome: 'refused', reason: 'expired' }],
      ],
      async () => {
        const redirect = await client.get(`/fhir/DocumentReference/${id}/files/content?disposition=inline`).expect(307);
        const signed = new URL(redirect.headers.location as string);
        expect(signed.pathname.startsWith(SIGNED_PATH_PREFIX)).toBe(true);
        await request(t.baseUrl).get(`${signed.pathname}${signed.search}`).expect(200);
        const tampered = new URL(signed);
        tampered.searchParams.set('disposition', 'attachment');
        await request(t.baseUrl).get(`${tampered.pathname}${tampered.search}`).expect(403);
        // The same URL once its 10 minutes are over: the service's clock, moved on.
        const now = Date.now();
        const later = jest.spyOn(Date, 'now').mockReturnValue(now + 11 * 60_000);
        try {
          await request(t.baseUrl).get(`${signed.pathname}${signed.search}`).expect(403);
        } finally {
          later.mockRestore();
        }
      },
    );
    expect([redirects, redeemed, badSignature, expired]).toEqual([1, 1, 1, 1]);
  });
});

describe('the object store and the sweepers', () => {
  it('counts a failed store operation by operation and code', async () => {
    const file = await client.upload(samples.pdf, 'lost.pdf');
    await t.removeObject(file.key);
    const [notFound] = await delta([['attachments_object_store_errors_total', { operation: 'get', code: 'object_not_found' }]], () =>
      client.get(`/files/${file.key}`).expect(404),
    );
    expect(notFound).toBe(1);
  });

  it('counts files the orphan sweeper deletes', async () => {
    const other = await ApiClient.for(t, OTHER_ORG);
    await other.upload(samples.pdf, 'never-linked-1.pdf');
    await other.upload(samples.png, 'never-linked-2.png');
    let deleted = 0;
    const [orphans] = await delta([['attachments_sweeper_deletions_total', { sweeper: 'orphan' }]], async () => {
      deleted = await t.app.get(OrphanFileSweeper, { strict: false }).sweep(new Date(Date.now() + 2 * 3600_000));
    });
    expect(deleted).toBeGreaterThanOrEqual(2);
    expect(orphans).toBe(deleted);
  });
});

describe('the database pool', () => {
  it('reports its size and queue, and times every connection taken from it', async () => {
    const [acquired] = await delta([['attachments_db_pool_acquire_seconds_count', { outcome: 'acquired' }]], () => client.get('/files').expect(200));
    expect(acquired).toBeGreaterThanOrEqual(1);
    const text = await scrape();
    expect(valueOf(text, 'attachments_db_pool_max_connections')).toBe(10);
    expect(valueOf(text, 'attachments_db_pool_connections')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^attachments_db_pool_waiting_requests \d+$/m);
  });

  it('counts connections that could not be had while Postgres is down', async () => {
    t.faults!.database.set('down');
    try {
      const [failed] = await delta([['attachments_db_pool_acquire_seconds_count', { outcome: 'failed' }]], async () => {
        // Idle connections are reset by the proxy; the pool opens new ones, which are refused.
        for (let i = 0; i < 3; i++) await client.get('/files');
      });
      expect(failed).toBeGreaterThanOrEqual(1);
    } finally {
      t.faults!.database.set('pass');
    }
  });
});

describe('the exposition', () => {
  it('passes promtool check metrics', async () => {
    const text = await scrape();
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect({ status: check.status, problems: `${check.stdout}${check.stderr}` }).toEqual({ status: 0, problems: '' });
  });

  it('names no organization, file or resource in any label', async () => {
    const text = await scrape();
    expect(text).not.toContain(ORG);
    expect(text).not.toContain(OTHER_ORG);
    expect(text).not.toMatch(/[0-9a-f]{32}/);
    for (const name of ['attachments_uploads_total', 'attachments_redirects_total', 'attachments_object_store_errors_total']) {
      expect(text).toContain(`# TYPE ${name} counter`);
    }
  });
});
