import type { Browser, Frame, Page } from 'puppeteer-core';
import request from 'supertest';
import { ApiClient, fhirBody } from '../support/api.js';
import { consoleOf, launchChromium, startFrontEnd, type FrontEnd } from '../support/browser.js';
import { newOrganizationId } from '../support/environment.js';
import { resourceWith } from '../support/fhir.js';
import { samples } from '../support/sample-files.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Front ends of hospitals run on other origins than the API. A real headless Chromium loads
 * test/fixtures/front-end from http://localhost:<port> (and, as an origin no one lists, from
 * http://127.0.0.1:<port>) and uses the API at http://127.0.0.1:<api port>: once with the
 * default configuration, once with that origin in CORS_ALLOWED_ORIGINS and FRAME_ANCESTORS.
 */
let frontEnd: FrontEnd;
/** The default configuration: no CORS, signed files framed by the service's own origin only. */
let plain: TestApp;
/** CORS_ALLOWED_ORIGINS and FRAME_ANCESTORS name the front end's origin. */
let open: TestApp;
let browser: Browser;
const pages: Page[] = [];

beforeAll(async () => {
  frontEnd = await startFrontEnd();
  const started = await Promise.allSettled([
    startTestApp(),
    startTestApp({ CORS_ALLOWED_ORIGINS: frontEnd.origin, FRAME_ANCESTORS: frontEnd.origin }),
    launchChromium(),
  ]);
  if (started[0].status === 'fulfilled') plain = started[0].value;
  if (started[1].status === 'fulfilled') open = started[1].value;
  if (started[2].status === 'fulfilled') browser = started[2].value;
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
});

afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  const chromium = browser?.process();
  await browser?.close();
  await Promise.all([plain?.close(), open?.close(), frontEnd?.close()]);
  // No Chromium is left behind: close() waited for the browser process, whose exit ends its children.
  if (chromium) expect(chromium.exitCode ?? chromium.signalCode).not.toBeNull();
});

/** A Patient whose photo is a PNG uploaded by `org`; returns the client and the photo's attachment path. */
async function patientWithPhoto(app: TestApp, org = newOrganizationId()): Promise<{ api: ApiClient; photo: string }> {
  const api = await ApiClient.for(app, org);
  const { url } = await api.upload(samples.png, 'wound.png');
  const created = await api.write('post', '/Patient', resourceWith('Patient', [{ url }])).expect(201);
  return { api, photo: `/fhir/Patient/${fhirBody(created).id}/files/photo` };
}

/** The signed URL the attachment's 307 points to, as the test process (a backend) captures it. */
async function signedUrl(api: ApiClient, path: string): Promise<string> {
  const res = await api.get(path).expect(307);
  return res.headers.location as string;
}

async function openFrontEnd(origin: string): Promise<{ page: Page; messages: string[] }> {
  const page = await browser.newPage();
  pages.push(page);
  const messages = consoleOf(page);
  await page.goto(`${origin}/`);
  return { page, messages };
}

interface FrontEndCalls {
  showImage(src: string): Promise<number>;
  frame(src: string): Promise<void>;
  uploadAndLink(api: string, token: string, pngBase64: string): Promise<Record<string, Record<string, unknown>> & { error?: string }>;
}

/** Calls a function of the page's own script (test/fixtures/front-end/index.html). */
function call<K extends keyof FrontEndCalls>(page: Page, name: K, ...args: Parameters<FrontEndCalls[K]>): ReturnType<FrontEndCalls[K]> {
  return page.evaluate(
    (fn: string, fnArgs: unknown[]) => (globalThis as unknown as { frontEnd: Record<string, (...a: unknown[]) => unknown> }).frontEnd[fn]!(...fnArgs),
    name,
    args,
  ) as ReturnType<FrontEndCalls[K]>;
}

/** What DevTools sees of the document Chromium makes for an image it shows in a frame. */
type ImageDocument = { document: { images: ArrayLike<{ naturalWidth: number }> } };

/** The page's iframe once it has navigated to `url` (a frame the browser refused shows chrome-error://). */
function frameAt(page: Page, url: string): Promise<Frame> {
  return page.waitForFrame((f) => f.parentFrame() === page.mainFrame() && f.url() === url, { timeout: 5_000 });
}

describe('a page on another origin, in headless Chromium', () => {
  it('shows a signed image in an <img> with the default configuration, no CORS needed', async () => {
    const { api, photo } = await patientWithPhoto(plain);
    const location = await signedUrl(api, photo);
    expect(new URL(location).origin).toBe(plain.baseUrl);

    const { page, messages } = await openFrontEnd(frontEnd.origin);
    expect(await call(page, 'showImage', location)).toBe(1); // the 1×1 PNG
    expect(messages).toEqual([]);
  });

  it('uploads a file, links it, updates the resource with If-Match and fetches the attachment when its origin is listed', async () => {
    const org = newOrganizationId();
    const { page, messages } = await openFrontEnd(frontEnd.origin);

    const seen = await call(page, 'uploadAndLink', open.baseUrl, await open.tokenFor(org), samples.png.toString('base64'));

    expect(seen.error).toBeUndefined();
    expect(seen.upload).toEqual({ status: 201, requestId: expect.stringMatching(/^[0-9a-f-]{36}$/), url: expect.stringMatching(`^/files/${org}/`) });
    expect(seen.created).toEqual({
      status: 201,
      location: expect.stringMatching(`^${open.baseUrl}/fhir/DocumentReference/[^/]+`),
      etag: 'W/"1"',
    });
    expect(seen.updated).toEqual({ status: 200, etag: 'W/"2"' });
    // The 307 followed inside the browser, to the signed URL (a preflight of its own there).
    expect(seen.attachment).toEqual({
      status: 200,
      redirectedTo: expect.stringMatching(`^${open.baseUrl}/signed-files/${org}/`),
      contentType: 'image/png',
      contentDisposition: expect.stringMatching(/^attachment; filename="?wound\.png\b/),
      size: samples.png.length,
    });
    expect(messages).toEqual([]);
    expect((await open.rowsOf(org)).map((r) => r.status)).toEqual(['available']);
  });

  it.each([
    ['CORS is not configured', () => plain, () => frontEnd.origin],
    ['its origin is not listed', () => open, () => frontEnd.otherOrigin],
  ])('cannot call the API from a page when %s', async (_case, app, origin) => {
    const org = newOrganizationId();
    const { page, messages } = await openFrontEnd(origin());

    const seen = await call(page, 'uploadAndLink', app().baseUrl, await app().tokenFor(org), samples.png.toString('base64'));

    expect(seen).toEqual({ error: 'TypeError: Failed to fetch' });
    expect(messages.join('\n')).toContain(
      `Access to fetch at '${app().baseUrl}/files/upload' from origin '${origin()}' has been blocked by CORS policy: ` +
        "Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin' header is present",
    );
    // The preflight failed, so the upload itself was never sent.
    expect(await app().rowsOf(org)).toEqual([]);
  });

  it('lets the origins of FRAME_ANCESTORS frame a signed inline image, and blocks the others', async () => {
    const { api, photo } = await patientWithPhoto(open);
    const location = await signedUrl(api, `${photo}?disposition=inline`);

    const listed = await openFrontEnd(frontEnd.origin);
    await call(listed.page, 'frame', location);
    const framed = await frameAt(listed.page, location);
    // The browser's own image document, sandboxed: DevTools may look in, the page's script may not.
    expect(await framed.evaluate(() => (globalThis as unknown as ImageDocument).document.images[0]?.naturalWidth)).toBe(1);
    expect(listed.messages).toEqual([]);

    const other = await openFrontEnd(frontEnd.otherOrigin);
    await call(other.page, 'frame', location);
    await frameAt(other.page, 'chrome-error://chromewebdata/');
    expect(other.messages.join('\n')).toContain(
      `violates the following Content Security Policy directive: "frame-ancestors 'self' ${frontEnd.origin}". The request has been blocked.`,
    );
  });

  it('blocks framing by other origins with the default configuration', async () => {
    const { api, photo } = await patientWithPhoto(plain);
    const location = await signedUrl(api, `${photo}?disposition=inline`);

    const { page, messages } = await openFrontEnd(frontEnd.origin);
    await call(page, 'frame', location);
    await frameAt(page, 'chrome-error://chromewebdata/');
    expect(messages.join('\n')).toContain(`violates the following Content Security Policy directive: "frame-ancestors 'self'"`);
  });
});

const accessControlHeaders = (headers: Record<string, string>) => Object.keys(headers).filter((h) => h.startsWith('access-control-'));

describe('CORS over HTTP', () => {
  it.each([
    ['POST', '/files/upload', 'authorization'],
    ['PUT', '/fhir/DocumentReference/some-id', 'authorization,content-type,if-match'],
    ['POST', '/fhir/Patient', 'authorization,content-type,prefer'],
    ['GET', '/whoami', 'authorization'],
    ['GET', '/signed-files/org/file.png', 'authorization'],
  ])('answers the preflight of %s %s from a listed origin', async (method, path, headers) => {
    const res = await request(open.baseUrl)
      .options(path)
      .set('Origin', frontEnd.origin)
      .set('Access-Control-Request-Method', method)
      .set('Access-Control-Request-Headers', headers)
      .expect(204);
    expect(res.headers['access-control-allow-origin']).toBe(frontEnd.origin);
    expect(res.headers['access-control-allow-methods']).toBe('GET,HEAD,POST,PUT,DELETE');
    expect(res.headers['access-control-allow-headers']).toBe('Authorization,Content-Type,If-Match,If-None-Match,Prefer,Range,X-Request-Id');
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    expect(res.headers.vary).toMatch(/\bOrigin\b/);
  });

  it('exposes Location, ETag, X-Request-Id and Content-Disposition to a listed origin, on errors too', async () => {
    const org = newOrganizationId();
    const ok = await request(open.baseUrl)
      .get('/whoami')
      .set('Origin', frontEnd.origin)
      .set('Authorization', `Bearer ${await open.tokenFor(org)}`)
      .expect(200);
    expect(ok.headers['access-control-allow-origin']).toBe(frontEnd.origin);
    expect(ok.headers['access-control-expose-headers']).toBe('Location,ETag,X-Request-Id,Content-Disposition,Content-Length,Retry-After');
    expect(ok.headers['access-control-allow-credentials']).toBeUndefined();

    // A front end can read why it was refused.
    const refused = await request(open.baseUrl).get('/fhir/Patient').set('Origin', frontEnd.origin).expect(401);
    expect(refused.headers['access-control-allow-origin']).toBe(frontEnd.origin);
  });

  it('gives an origin that is not listed no CORS header, its preflight included', async () => {
    const preflight = await request(open.baseUrl)
      .options('/fhir/Patient')
      .set('Origin', frontEnd.otherOrigin)
      .set('Access-Control-Request-Method', 'POST')
      .expect(404);
    expect(accessControlHeaders(preflight.headers)).toEqual([]);
    const get = await request(open.baseUrl).get('/fhir/metadata').set('Origin', 'https://evil.example').expect(200);
    expect(accessControlHeaders(get.headers)).toEqual([]);
    // A cache must not hand this answer to a listed origin.
    expect(get.headers.vary).toMatch(/\bOrigin\b/);
  });

  it('answers no CORS at all with the default configuration', async () => {
    const preflight = await request(plain.baseUrl)
      .options('/fhir/Patient')
      .set('Origin', frontEnd.origin)
      .set('Access-Control-Request-Method', 'POST')
      .expect(404);
    expect(accessControlHeaders(preflight.headers)).toEqual([]);
    const get = await request(plain.baseUrl).get('/fhir/metadata').set('Origin', frontEnd.origin).expect(200);
    expect(accessControlHeaders(get.headers)).toEqual([]);
  });

  it('leaves the probes and the documentation out of CORS', async () => {
    for (const path of ['/health/live', '/openapi.json', '/']) {
      const res = await request(open.baseUrl).get(path).set('Origin', frontEnd.origin);
      expect(accessControlHeaders(res.headers)).toEqual([]);
    }
  });
});

describe('signed-file headers', () => {
  it('serve a signed file to any origin, framed only by the service itself and FRAME_ANCESTORS', async () => {
    for (const [app, ancestors] of [
      [plain, "'self'"],
      [open, `'self' ${frontEnd.origin}`],
    ] as const) {
      const { api, photo } = await patientWithPhoto(app);
      const res = await request(await signedUrl(api, `${photo}?disposition=inline`)).get('').expect(200);
      expect(res.headers['cross-origin-resource-policy']).toBe('cross-origin');
      expect(res.headers['x-frame-options']).toBeUndefined();
      expect(res.headers['content-security-policy']).toBe(`default-src 'none'; sandbox; frame-ancestors ${ancestors}`);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-disposition']).toMatch(/^inline; filename="?wound\.png\b/);
    }
  });

  it('keeps a PDF an attachment on a signed URL, whatever disposition was asked for', async () => {
    const api = await ApiClient.for(open, newOrganizationId());
    const { url } = await api.upload(samples.pdf, 'lab-report.pdf');
    const created = await api.write('post', '/DocumentReference', resourceWith('DocumentReference', [{ url }])).expect(201);
    const location = await signedUrl(api, `/fhir/DocumentReference/${fhirBody(created).id}/files/content?disposition=inline`);
    const res = await request(location).get('').expect(200);
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="?lab-report\.pdf\b/);
    expect(res.headers['content-security-policy']).toBe(`default-src 'none'; sandbox; frame-ancestors 'self' ${frontEnd.origin}`);
  });

  it('keeps the same-origin defaults on the authenticated download', async () => {
    const api = await ApiClient.for(open, newOrganizationId());
    const { url } = await api.upload(samples.png, 'wound.png');
    const res = await api.get(`${url}?disposition=inline`).expect(200);
    expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['content-security-policy']).toBe("default-src 'none'; sandbox");
  });
});
