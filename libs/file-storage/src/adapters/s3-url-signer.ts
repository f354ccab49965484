import { createHash, createHmac } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Sha256 } from '@smithy/core/checksum';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { escapeUri, extendedEncodeURIComponent } from '@smithy/core/protocols';
import { getSigningKey } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import type { PresignOptions } from '../ports/object-store.port.js';

/** A URL must stay valid this much longer than it says, for the clocks of the store and this service. */
const CREDENTIAL_MARGIN_MS = 60_000;
/** SigV4 refuses pre-signed URLs that live longer than a week. */
const MAX_EXPIRES_IN_SECONDS = 7 * 24 * 3600;

interface Endpoint {
  protocol: string;
  /** `/bucket` for path-style addressing, empty for virtual-hosted buckets. */
  basePath: string;
  region: string;
  signingName: string;
  /** The Host header every URL is signed with. */
  host: string;
}

/** A day's signing key (HMAC of the secret over date, region and service): the same for every URL of that day. */
interface SigningKey {
  /** The secret it was derived from: compared by value, for a provider may change one credentials object in place. */
  secretAccessKey: string;
  shortDate: string;
  key: Buffer;
}

/**
 * Pre-signed GET/HEAD URLs of one bucket: the same URLs `getSignedUrl` makes
 * (the spec compares them over many random requests), at a third of its cost
 * per URL. The endpoint (path-style or virtual-hosted, the signing region) is
 * resolved once by the SDK's own endpoint rules, and the day's signing key is
 * derived by the SDK's `getSigningKey`; each URL is then what SigV4 asks for
 * a pre-signed request with an unsigned payload: one SHA-256 of the
 * canonical request and one HMAC of the string to sign. The SDK's presigner
 * clones the request, walks its headers and recomputes an HMAC of the
 * credentials for its key cache on every URL; at thousands of 307s a second
 * that was a tenth of the service's CPU.
 *
 * Temporary credentials (web identity, instance roles) end a pre-signed URL
 * when they expire, whatever its own expiry says, so the credentials used
 * must outlive the URL: when they would not, they are refreshed first.
 */
export class S3UrlSigner {
  private readonly logger = new Logger('S3UrlSigner');
  private endpoint?: Promise<Endpoint>;
  /** The signing key of the secret and day last signed with; both change rarely. */
  private signingKey?: SigningKey;

  constructor(
    /** A client configured with the endpoint clients reach the store at. */
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async sign(key: string, options: PresignOptions, now = new Date()): Promise<string> {
    const endpoint = await (this.endpoint ??= this.resolveEndpoint());
    const { credentials, expiresIn } = await this.credentialsFor(options.expiresInSeconds, now);
    if (expiresIn > MAX_EXPIRES_IN_SECONDS) throw new RangeError(`A pre-signed URL cannot live longer than a week (${MAX_EXPIRES_IN_SECONDS} s)`);
    const longDate = now.toISOString().replace(/[-:]|\.\d{3}/g, ''); // 20261130T131821Z
    const shortDate = longDate.slice(0, 8);
    const scope = `${shortDate}/${endpoint.region}/${endpoint.signingName}/aws4_request`;
    const path = `${endpoint.basePath}/${key.split('/').map(extendedEncodeURIComponent).join('/')}`;
    const query: Array<[string, string]> = [
      ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
      ['X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD'],
      ['X-Amz-Credential', `${credentials.accessKeyId}/${scope}`],
      ['X-Amz-Date', longDate],
      ['X-Amz-Expires', String(expiresIn)],
      ['X-Amz-SignedHeaders', 'host'],
      ['response-content-disposition', options.contentDisposition],
      ['response-content-type', options.contentType],
    ];
    if (credentials.sessionToken) query.push(['X-Amz-Security-Token', credentials.sessionToken]);
    // The SDK names the operation in GET requests only.
    if (options.method === 'GET') query.push(['x-id', 'GetObject']);
    const parameters = encodedInOrder(query);
    const canonicalQuery = parameters.map(([, pair]) => pair).join('&');
    const canonicalRequest = `${options.method}\n${path}\n${canonicalQuery}\nhost:${endpoint.host}\n\nhost\nUNSIGNED-PAYLOAD`;
    const stringToSign = `AWS4-HMAC-SHA256\n${longDate}\n${scope}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
    const signature = createHmac('sha256', await this.keyFor(credentials, shortDate, endpoint)).update(stringToSign).digest('hex');
    // The URL's query is the canonical one with the signature in its place (the order getSignedUrl writes).
    const signed: EncodedParameter = ['X-Amz-Signature', `X-Amz-Signature=${signature}`];
    const at = parameters.findIndex(([name]) => name > signed[0]);
    parameters.splice(at < 0 ? parameters.length : at, 0, signed);
    return `${endpoint.protocol}//${endpoint.host}${path}?${parameters.map(([, pair]) => pair).join('&')}`;
  }

  private async keyFor(credentials: AwsCredentialIdentity, shortDate: string, endpoint: Endpoint): Promise<Buffer> {
    const kept = this.signingKey;
    if (kept?.secretAccessKey === credentials.secretAccessKey && kept.shortDate === shortDate) return kept.key;
    const key = Buffer.from(await getSigningKey(Sha256, credentials, shortDate, endpoint.region, endpoint.signingName));
    this.signingKey = { secretAccessKey: credentials.secretAccessKey, shortDate, key };
    return key;
  }

  /** Credentials that outlive a URL of `seconds` from `now`, and the expiry to sign for. */
  private async credentialsFor(seconds: number, now: Date): Promise<{ credentials: AwsCredentialIdentity; expiresIn: number }> {
    const provider = this.client.config.credentials;
    const lastsLongEnough = (c: AwsCredentialIdentity) =>
      !c.expiration || c.expiration.getTime() >= now.getTime() + seconds * 1000 + CREDENTIAL_MARGIN_MS;
    let credentials = await provider();
    if (lastsLongEnough(credentials)) return { credentials, expiresIn: seconds };
    credentials = await provider({ forceRefresh: true });
    if (lastsLongEnough(credentials)) return { credentials, expiresIn: seconds };
    // The source hands out nothing longer-lived yet (an instance role shortly before its rotation):
    // a URL that says when it really ends is better than one that dies early.
    const remaining = Math.floor((credentials.expiration!.getTime() - now.getTime() - CREDENTIAL_MARGIN_MS) / 1000);
    this.logger.warn(`The S3 credentials expire in ${remaining + 60} s even after a refresh; signing URLs for ${remaining} s instead of ${seconds} s`);
    return { credentials, expiresIn: Math.max(1, remaining) };
  }

  private async resolveEndpoint(): Promise<Endpoint> {
    // The SDK's endpoint rules for this bucket (path-style or not, FIPS, dual-stack, the signing region).
    const resolved = await getEndpointFromInstructions({ Bucket: this.bucket, Key: 'k' }, GetObjectCommand, this.client.config);
    const auth = (resolved.properties?.authSchemes as Array<{ signingRegion?: string; signingName?: string }> | undefined)?.[0];
    const url = resolved.url;
    return {
      protocol: url.protocol,
      host: url.host,
      basePath: url.pathname.replace(/\/+$/, ''),
      region: auth?.signingRegion ?? (await this.client.config.region()),
      signingName: auth?.signingName ?? 's3',
    };
  }
}

/** A query parameter: its URI-encoded name, and `name=value` with both parts URI-encoded. */
type EncodedParameter = [name: string, pair: string];

/** SigV4's canonical query parameters: each part URI-encoded, sorted by name. */
function encodedInOrder(parameters: ReadonlyArray<[string, string]>): EncodedParameter[] {
  return parameters
    .map(([name, value]): EncodedParameter => {
      const encoded = escapeUri(name);
      return [encoded, `${encoded}=${escapeUri(value)}`];
    })
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
