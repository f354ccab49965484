import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import request from 'supertest';
import { newOrganizationId, randomSecret } from '../support/environment.js';
import { samples } from '../support/sample-files.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

function uploadWith(t: TestApp, authorization?: string) {
  const req = request(t.baseUrl).post('/files/upload');
  if (authorization !== undefined) req.set('Authorization', authorization);
  return req.attach('file', samples.pdf, { filename: 'a.pdf', contentType: 'application/pdf' });
}

describe('bearer authentication (HS256 secret)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  const secretOf = () => new TextEncoder().encode((t.config.auth as { secret: string }).secret);

  it('refuses a request without a token with 401 and a bare Bearer challenge', async () => {
    const res = await uploadWith(t).expect(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.body).toMatchObject({ statusCode: 401, error: 'Unauthorized', code: 'authentication_required' });
  });

  it('refuses two Authorization headers with 400, whichever is valid', async () => {
    const valid = await t.tokenFor(newOrganizationId());
    const { port } = new URL(t.baseUrl);
    // supertest folds repeated headers into one: the request is written by hand.
    const { request: raw } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = raw({ host: '127.0.0.1', port, path: '/whoami', headers: [['Authorization', `Bearer ${valid}`], ['Authorization', 'Bearer other.token.here']] as unknown as Record<string, string> });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(400);
  });

  it('tells the holder of a valid token which organization and subject it acts for (GET /whoami)', async () => {
    const org = newOrganizationId();
    const res = await request(t.baseUrl).get('/whoami').set('Authorization', `Bearer ${await t.tokenFor(org, { sub: 'dr-grey' })}`).expect(200);
    expect(res.body).toEqual({ organizationId: org, subject: 'dr-grey' });
    await request(t.baseUrl).get('/whoami').expect(401);
  });

  it.each([
    ['a non-Bearer scheme', 'Basic dXNlcjpwYXNz'],
    ['a malformed token', 'Bearer not-a-jwt'],
    ['an oversized header', `Bearer ${'a'.repeat(9000)}.b.c`],
  ])('refuses %s with 401', async (_case, header) => {
    const res = await uploadWith(t, header).expect(401);
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  });

  it('refuses an expired token with 401', async () => {
    const token = await new SignJWT({ org_id: newOrganizationId() })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 120)
      .sign(secretOf());
    const res = await uploadWith(t, `Bearer ${token}`).expect(401);
    expect(res.body.message).toMatch(/expired/);
  });

  it('refuses a token signed with another secret with 401', async () => {
    const token = await new SignJWT({ org_id: newOrganizationId() })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(randomSecret()));
    await uploadWith(t, `Bearer ${token}`).expect(401);
  });

  it('refuses an unsigned alg:none token with 401', async () => {
    const exp = Math.floor(Date.now() / 1000) + 300;
    const token = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ org_id: newOrganizationId(), exp })}.`;
    await uploadWith(t, `Bearer ${token}`).expect(401);
  });

  it('refuses a token without exp with 401', async () => {
    const token = await new SignJWT({ org_id: newOrganizationId() }).setProtectedHeader({ alg: 'HS256' }).sign(secretOf());
    await uploadWith(t, `Bearer ${token}`).expect(401);
  });

  it.each([
    ['no organization claim', {}],
    ['an organization id with a slash', { org_id: 'a/b' }],
    ['an organization id starting with a dot', { org_id: '.hidden' }],
    ['a numeric organization id', { org_id: 42 }],
    ['an over-long organization id', { org_id: 'o'.repeat(65) }],
  ])('refuses a token with %s with 401', async (_case, claims) => {
    const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(secretOf());
    const res = await uploadWith(t, `Bearer ${token}`).expect(401);
    expect(res.body.message).toMatch(/organization/);
  });

  it('accepts a UUID organization id', async () => {
    const org = '3fa85f64-5717-4562-b3fc-2c963f66afa6';
    const res = await uploadWith(t, `Bearer ${await t.tokenFor(org)}`).expect(201);
    expect(res.body.key.startsWith(`${org}/`)).toBe(true);
  });
});

describe('bearer authentication (JWKS, RS256/ES256)', () => {
  let t: TestApp;
  let jwks: Server;
  let jwksUrl: string;
  let signingKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  const ISSUER = 'https://idp.test';
  const AUDIENCE = 'clinical-files';

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    signingKey = privateKey;
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwks = createServer((_, res) => res.setHeader('Content-Type', 'application/json').end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    t = await startTestApp({ JWT_SECRET: '', JWT_JWKS_URL: jwksUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
  });
  afterAll(async () => {
    await t.close();
    jwks.close();
  });

  const tokenFrom = (claims: Record<string, unknown>, iss = ISSUER, aud = AUDIENCE) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(iss).setAudience(aud).setExpirationTime('5m').sign(signingKey);

  it('accepts a token signed by a key from the JWKS', async () => {
    const org = newOrganizationId();
    const res = await uploadWith(t, `Bearer ${await tokenFrom({ org_id: org })}`).expect(201);
    expect(res.body.key.startsWith(`${org}/`)).toBe(true);
  });

  it('refuses a token for another audience or from another issuer with 401', async () => {
    await uploadWith(t, `Bearer ${await tokenFrom({ org_id: newOrganizationId() }, ISSUER, 'other-api')}`).expect(401);
    await uploadWith(t, `Bearer ${await tokenFrom({ org_id: newOrganizationId() }, 'https://evil.test')}`).expect(401);
  });

  it('refuses an HS256 token (algorithm confusion) with 401', async () => {
    const token = await new SignJWT({ org_id: newOrganizationId() })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(jwksUrl));
    await uploadWith(t, `Bearer ${token}`).expect(401);
  });

  it('answers 503 with Retry-After, not 401, when the identity provider cannot be reached', async () => {
    const down = await startTestApp({
      JWT_SECRET: '',
      JWT_JWKS_URL: 'http://127.0.0.1:9/jwks.json',
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
    });
    try {
      const res = await uploadWith(down, `Bearer ${await tokenFrom({ org_id: newOrganizationId() })}`).expect(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect(await down.rowsOf('x')).toEqual([]);
    } finally {
      await down.close();
    }
  });
});
