import { Logger } from '@nestjs/common';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { formatUrl } from '@aws-sdk/core/util';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { extendedEncodeURIComponent, HttpRequest } from '@smithy/core/protocols';
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import type { PresignOptions } from '../ports/object-store.port.js';

/** A URL must stay valid this much longer than it says, for the clocks of the store and this service. */
const CREDENTIAL_MARGIN_MS = 60_000;

interface Endpoint {
  protocol: string;
  hostname: string;
  port?: number;
  /** `/bucket` for path-style addressing, empty for virtual-hosted buckets. */
  basePath: string;
  region: string;
  signingName: string;
}

/**
 * Pre-signed GET/HEAD URLs of one bucket: the same URLs `getSignedUrl` makes,
 * without running the SDK's whole command pipeline for each one. The
 * endpoint (path-style or virtual-hosted, the signing region) is resolved
 * once by the SDK's own endpoint rules; each URL is then one SigV4 presign.
 *
 * Temporary credentials (web identity, instance roles) end a pre-signed URL
 * when they expire, whatever its own expiry says, so the credentials used
 * must outlive the URL: when they would not, they are refreshed first.
 */
export class S3UrlSigner {
  private readonly logger = new Logger('S3UrlSigner');
  private endpoint?: Promise<Endpoint>;
  /** A presigner for the credentials it was made with; they change rarely (on rotation). */
  private presigner?: { credentials: AwsCredentialIdentity; presigner: S3RequestPresigner };

  constructor(
    /** A client configured with the endpoint clients reach the store at. */
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async sign(key: string, options: PresignOptions, now = new Date()): Promise<string> {
    const endpoint = await (this.endpoint ??= this.resolveEndpoint());
    const { credentials, expiresIn } = await this.credentialsFor(options.expiresInSeconds, now);
    const query: Record<string, string> = {
      'response-content-disposition': options.contentDisposition,
      'response-content-type': options.contentType,
    };
    // The SDK names the operation in GET requests only.
    if (options.method === 'GET') query['x-id'] = 'GetObject';
    const request = new HttpRequest({
      method: options.method,
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      port: endpoint.port,
      path: `${endpoint.basePath}/${key.split('/').map(extendedEncodeURIComponent).join('/')}`,
      query,
      headers: { host: endpoint.port ? `${endpoint.hostname}:${endpoint.port}` : endpoint.hostname },
    });
    if (this.presigner?.credentials !== credentials) {
      const presigner = new S3RequestPresigner({ ...this.client.config, credentials, region: endpoint.region, signingName: endpoint.signingName });
      this.presigner = { credentials, presigner };
    }
    const signed = await this.presigner.presigner.presign(request, { expiresIn, signingDate: now });
    return formatUrl(signed);
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
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      basePath: url.pathname.replace(/\/+$/, ''),
      region: auth?.signingRegion ?? (await this.client.config.region()),
      signingName: auth?.signingName ?? 's3',
    };
  }
}
