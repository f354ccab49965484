import request from 'supertest';
import { newOrganizationId, tempDir } from '../support/environment.js';
import { expectOperationOutcome, FHIR_JSON, type Json } from '../support/fhir.js';
import { samples } from '../support/sample-files.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Two replicas of the service on one Postgres and one store, each keeping the
 * resources it reads in memory (FHIR_READ_CACHE_ENTRIES, on by default).
 * A third, C, keeps nothing itself but answers changes too.
 * Every answer of the database reaches replica A 60 ms late, the notices of
 * changes included: what A keeps stays stale that long after a change
 * commits, yet short of the horizon, so A keeps answering from memory. B
 * changes; the moment B has answered, A must not redirect to, or read, what
 * was changed or deleted.
 */

const LAG_MS = 60;
const ROUNDS = 6;

let a: TestApp;
let b: TestApp;
/** A third replica that keeps nothing in memory itself (FHIR_READ_CACHE_ENTRIES=0). */
let c: TestApp;
let org: string;
let tokenA: string;
let tokenB: string;
let tokenC: string;
const dataDir = tempDir('replicas-');

beforeAll(async () => {
  [a, b, c] = await Promise.all([
    startTestApp({}, 'fs', { faults: true, dataDir }),
    startTestApp({}, 'fs', { dataDir }),
    startTestApp({ FHIR_READ_CACHE_ENTRIES: '0' }, 'fs', { dataDir }),
  ]);
  a.faults!.database.delayAnswers(LAG_MS);
}, 60_000);
afterAll(async () => {
  await a?.close();
  await b?.close();
  await c?.close();
});

beforeEach(async () => {
  org = newOrganizationId();
  [tokenA, tokenB, tokenC] = await Promise.all([a.tokenFor(org), b.tokenFor(org), c.tokenFor(org)]);
});

const on = (app: TestApp) => (app === a ? tokenA : app === b ? tokenB : tokenC);
const get = (app: TestApp, path: string) => request(app.baseUrl).get(path).set('Authorization', `Bearer ${on(app)}`);
const send = (app: TestApp, method: 'post' | 'put', path: string, body: Json) =>
  request(app.baseUrl)[method](path).set('Authorization', `Bearer ${on(app)}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));

async function upload(app: TestApp, name: string): Promise<Json> {
  return (await request(app.baseUrl).post('/files/upload').set('Authorization', `Bearer ${on(app)}`).attach('file', samples.pdf, name).expect(201)).body;
}

function documentReference(urls: string[], id?: string): Json {
  return { resourceType: 'DocumentReference', ...(id && { id }), status: 'current', subject: { reference: 'Patient/p-1' }, content: urls.map((url) => ({ attachment: { url } })) };
}

/** A's reads so far with this outcome (attachments_fhir_read_cache_total). */
async function readsOnA(outcome: 'hit' | 'not_current'): Promise<number> {
  const metrics = (await request(a.baseUrl).get('/metrics').expect(200)).text;
  return Number(new RegExp(`^attachments_fhir_read_cache_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
}
const hitsOnA = () => readsOnA('hit');

/**
 * The checks of A right after B's answer. They have teeth only while A is
 * current (else A reads from the database, and is right whatever B did):
 * `checked` counts the rounds in which it was, and every test wants most.
 */
const checked = { rounds: 0, whileCurrent: 0 };
async function checkOnA(check: () => Promise<void>): Promise<void> {
  const before = await readsOnA('not_current');
  await check();
  checked.rounds++;
  if ((await readsOnA('not_current')) === before) checked.whileCurrent++;
}
afterEach(() => {
  const { rounds, whileCurrent } = checked;
  checked.rounds = checked.whileCurrent = 0;
  if (rounds > 0) expect(whileCurrent).toBeGreaterThanOrEqual(Math.ceil(rounds / 2));
});

/**
 * A 307 of `path` that A answered from memory: a first read fills it, then A is asked again until one is a
 * hit. A answers from memory only while it is current, which its heartbeats, coming back through the slow
 * proxy of a loaded machine, may take a few tries to show.
 */
async function redirectFromMemoryOnA(path: string): Promise<string> {
  await get(a, path).expect(307);
  const before = await hitsOnA();
  for (const until = Date.now() + 5000; ; ) {
    const location = (await get(a, path).expect(307)).headers.location as string;
    if ((await hitsOnA()) > before) return location;
    if (Date.now() > until) throw new Error(`A never answered ${path} from memory`);
  }
}

describe('two replicas keeping resources in memory', () => {
  it('never redirect to a file a resource no longer links, once its update has been answered by the other', async () => {
    const hitsBefore = await hitsOnA();
    const files = await Promise.all(Array.from({ length: ROUNDS + 1 }, (_, i) => upload(b, `lab-${i}.pdf`)));
    const id = JSON.parse((await send(b, 'post', '/fhir/DocumentReference', documentReference([files[0]!.url])).expect(201)).text).id;
    const path = `/fhir/DocumentReference/${id}/files/content`;
    for (let round = 1; round <= ROUNDS; round++) {
      expect(await redirectFromMemoryOnA(path)).toContain(files[round - 1]!.key.split('/')[1]);
      await send(b, 'put', `/fhir/DocumentReference/${id}`, documentReference([files[round]!.url], id)).expect(200);
      // At once: no sleep, no retry.
      await checkOnA(async () => {
        const location = (await get(a, path).expect(307)).headers.location as string;
        expect(location).toContain(files[round]!.key.split('/')[1]);
        const read = JSON.parse((await get(a, `/fhir/DocumentReference/${id}`).set('Accept', FHIR_JSON).expect(200)).text);
        expect(read.meta.versionId).toBe(String(round + 1));
      });
    }
    // A answered from memory between the changes, so the checks above could have failed.
    expect((await hitsOnA()) - hitsBefore).toBeGreaterThanOrEqual(ROUNDS);
  }, 60_000);

  it.each([
    ['the other', () => b],
    ['a replica that keeps nothing itself', () => c],
  ])('never redirect for a resource once its delete has been answered by %s', async (_, deleter) => {
    const hitsBefore = await hitsOnA();
    for (let round = 0; round < ROUNDS; round++) {
      const file = await upload(b, `consent-${round}.pdf`);
      const id = JSON.parse((await send(b, 'post', '/fhir/DocumentReference', documentReference([file.url])).expect(201)).text).id;
      const path = `/fhir/DocumentReference/${id}/files/content`;
      await redirectFromMemoryOnA(path);
      await request(deleter().baseUrl).delete(`/fhir/DocumentReference/${id}`).set('Authorization', `Bearer ${on(deleter())}`).expect(204);
      await checkOnA(async () => {
        expectOperationOutcome(await get(a, path), 404);
        expectOperationOutcome(await get(a, `/fhir/DocumentReference/${id}`).set('Accept', FHIR_JSON), 404);
      });
    }
    expect((await hitsOnA()) - hitsBefore).toBeGreaterThanOrEqual(ROUNDS);
  }, 60_000);

  it("never redirect to a Binary once the resource of its securityContext has been deleted by the other", async () => {
    const hitsBefore = await hitsOnA();
    for (let round = 0; round < ROUNDS; round++) {
      const context = JSON.parse((await send(b, 'post', '/fhir/DocumentReference', documentReference(['https://archive.example.org/d/1'])).expect(201)).text).id;
      const binary = JSON.parse(
        (
          await send(b, 'post', '/fhir/Binary', {
            resourceType: 'Binary',
            contentType: 'application/pdf',
            data: samples.pdf.toString('base64'),
            securityContext: { reference: `DocumentReference/${context}` },
          }).expect(201)
        ).text,
      ).id;
      const linking = JSON.parse((await send(b, 'post', '/fhir/DocumentReference', documentReference([`Binary/${binary}`])).expect(201)).text).id;
      const path = `/fhir/DocumentReference/${linking}/files/content`;
      await redirectFromMemoryOnA(path);
      await request(b.baseUrl).delete(`/fhir/DocumentReference/${context}`).set('Authorization', `Bearer ${tokenB}`).expect(204);
      await checkOnA(async () => {
        expectOperationOutcome(await get(a, path), 403, /readable only with access/);
      });
    }
    expect((await hitsOnA()) - hitsBefore).toBeGreaterThanOrEqual(ROUNDS);
  }, 60_000);

  it('forget what they kept when they lose the database, so a delete made meanwhile is seen once it is back', async () => {
    const file = await upload(b, 'wound.pdf');
    const id = JSON.parse((await send(b, 'post', '/fhir/DocumentReference', documentReference([file.url])).expect(201)).text).id;
    const path = `/fhir/DocumentReference/${id}/files/content`;
    await redirectFromMemoryOnA(path);
    a.faults!.database.set('down');
    try {
      // Every connection of A is reset, its feed's included: whatever it missed from now on, it must not trust what it kept.
      await request(b.baseUrl).delete(`/fhir/DocumentReference/${id}`).set('Authorization', `Bearer ${tokenB}`).expect(204);
      expectOperationOutcome(await get(a, path), 503);
    } finally {
      a.faults!.database.set('pass');
    }
    // Until well after A listens again (it retries after a second) and could answer from memory.
    const seen: number[] = [];
    for (const until = Date.now() + 3000; Date.now() < until; ) {
      seen.push((await get(a, path)).status);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.at(-1)).toBe(404);
    expect(seen.filter((s) => s !== 503 && s !== 404)).toEqual([]);
    // A listens again, and answers from memory what it may.
    const other = await upload(b, 'wound-2.pdf');
    const otherId = JSON.parse((await send(b, 'post', '/fhir/DocumentReference', documentReference([other.url])).expect(201)).text).id;
    const hitsBefore = await hitsOnA();
    await redirectFromMemoryOnA(`/fhir/DocumentReference/${otherId}/files/content`);
    expect((await hitsOnA()) - hitsBefore).toBe(1);
  }, 30_000);

  it('keep nothing apart from the database while a replica cannot prove it is caught up', async () => {
    // Answers later than the horizon: A cannot prove it has seen every change, and reads from the database.
    a.faults!.database.delayAnswers(400);
    try {
      const file = await upload(b, 'late.pdf');
      const id = JSON.parse((await send(b, 'post', '/fhir/DocumentReference', documentReference([file.url])).expect(201)).text).id;
      await new Promise((r) => setTimeout(r, 500));
      const hitsBefore = await hitsOnA();
      await get(a, `/fhir/DocumentReference/${id}/files/content`).expect(307);
      await get(a, `/fhir/DocumentReference/${id}/files/content`).expect(307);
      expect((await hitsOnA()) - hitsBefore).toBe(0);
      // B waits for A's acknowledgement no longer than the horizon, and its change is seen at once all the same.
      await request(b.baseUrl).delete(`/fhir/DocumentReference/${id}`).set('Authorization', `Bearer ${tokenB}`).expect(204);
      expectOperationOutcome(await get(a, `/fhir/DocumentReference/${id}/files/content`), 404);
    } finally {
      a.faults!.database.delayAnswers(LAG_MS);
    }
  }, 30_000);
});
