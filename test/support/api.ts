import request from 'supertest';
import { FHIR_JSON, type Json } from './fhir.js';
import type { TestApp } from './test-app.js';

/** The API as one organization's client sees it: its token on every request. */
export class ApiClient {
  constructor(
    readonly app: TestApp,
    readonly token: string,
  ) {}

  static async for(app: TestApp, organizationId: string): Promise<ApiClient> {
    return new ApiClient(app, await app.tokenFor(organizationId));
  }

  /** Uploads a file and returns the 201's body (key, url, contentType, size, ...). */
  async upload(bytes: Buffer, name: string, contentType?: string): Promise<Json> {
    const res = await request(this.app.baseUrl)
      .post('/files/upload')
      .set('Authorization', `Bearer ${this.token}`)
      .attach('file', bytes, contentType ? { filename: name, contentType } : name);
    if (res.status !== 201) throw new Error(`upload of ${name}: ${res.status} ${res.text}`);
    return res.body as Json;
  }

  get(path: string) {
    return request(this.app.baseUrl).get(path).set('Authorization', `Bearer ${this.token}`);
  }

  delete(path: string) {
    return request(this.app.baseUrl).delete(path).set('Authorization', `Bearer ${this.token}`);
  }

  /** Sends a FHIR resource as the body, taken as raw JSON text when it is a string. */
  write(method: 'post' | 'put', path: string, body: unknown, headers: Record<string, string> = {}) {
    return request(this.app.baseUrl)
      [method](`/fhir${path}`)
      .set('Authorization', `Bearer ${this.token}`)
      .set('Content-Type', FHIR_JSON)
      .set(headers)
      .send(typeof body === 'string' ? body : JSON.stringify(body));
  }

  fhir(method: 'get' | 'delete', path: string, headers: Record<string, string> = {}) {
    return request(this.app.baseUrl)[method](`/fhir${path}`).set('Authorization', `Bearer ${this.token}`).set('Accept', FHIR_JSON).set(headers);
  }
}

/** The body of a FHIR answer, whatever its media type (supertest parses only application/json). */
export function fhirBody(res: request.Response): Json {
  return JSON.parse(res.text) as Json;
}
