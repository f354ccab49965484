import { SignJWT, UnsecuredJWT } from 'jose';
import { AuthenticationError } from '../errors.js';
import { JoseTokenVerifier } from './jose-token-verifier.js';

const SECRET = 's'.repeat(40);
const key = new TextEncoder().encode(SECRET);
const verifier = await JoseTokenVerifier.create({ key: { secret: SECRET }, orgClaim: 'tenant', audience: 'files', issuer: 'https://idp' });

const sign = (claims: Record<string, unknown>, edit: (j: SignJWT) => SignJWT = (j) => j) =>
  edit(new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://idp').setAudience('files').setExpirationTime('2m')).sign(key);

describe('JoseTokenVerifier', () => {
  it('returns the organization from the configured claim and the subject', async () => {
    const principal = await verifier.verify(await sign({ tenant: 'org-1', sub: 'dr-house' }));
    expect(principal).toEqual({ organizationId: 'org-1', subject: 'dr-house' });
  });

  it.each([
    ['an expired token', () => sign({ tenant: 'o' }, (j) => j.setExpirationTime(Math.floor(Date.now() / 1000) - 60)), /expired/],
    ['a token for another audience', () => sign({ tenant: 'o' }, (j) => j.setAudience('billing')), /"aud" claim/],
    ['a token from another issuer', () => sign({ tenant: 'o' }, (j) => j.setIssuer('https://evil')), /"iss" claim/],
    ['an unsecured token', async () => new UnsecuredJWT({ tenant: 'o' }).setIssuer('https://idp').setAudience('files').setExpirationTime('2m').encode(), /algorithm/],
    ['a token signed with another secret', () => new SignJWT({ tenant: 'o' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://idp').setAudience('files').setExpirationTime('2m').sign(new TextEncoder().encode('x'.repeat(40))), /signature/],
    ['a token whose organization is in another claim', () => sign({ org_id: 'o' }), /claim "tenant"/],
    ['garbage', async () => 'a.b.c', /malformed/],
  ])('refuses %s', async (_case, token, message) => {
    const attempt = verifier.verify(await token());
    await expect(attempt).rejects.toBeInstanceOf(AuthenticationError);
    await expect(verifier.verify(await token())).rejects.toThrow(message);
  });

  it('refuses to start with an empty secret, rather than answer 401 to every token', async () => {
    await expect(JoseTokenVerifier.create({ key: { secret: '' }, orgClaim: 'tenant' })).rejects.toThrow('The HS256 secret is empty');
  });

  it('tolerates 30 seconds of clock skew, not more', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect(verifier.verify(await sign({ tenant: 'o' }, (j) => j.setExpirationTime(now - 10)))).resolves.toBeDefined();
    await expect(verifier.verify(await sign({ tenant: 'o' }, (j) => j.setExpirationTime(now - 60)))).rejects.toThrow(/expired/);
  });
});
