import { request } from 'node:http';

export const MiB = 1024 * 1024;

/** Writes bytes [offset, offset + chunk.length) of a file's content into `chunk`. */
export type Content = (offset: number, chunk: Buffer) => void;

export interface UploadBody {
  fileName: string;
  contentType?: string;
  size: number;
  content: Content;
  /** Raw multipart text after the file part, before the closing boundary (another part, say). */
  extraParts?: string;
}

export interface UploadOptions {
  token: string;
  /** Transfer-Encoding: chunked, announcing no length. */
  chunked?: boolean;
  expectContinue?: boolean;
  /** Called once when this many bytes of the file have been written. */
  at?: { offset: number; run: () => void | Promise<void> };
  headers?: Record<string, string>;
  /** End the request after the file's bytes, without the closing boundary (with `chunked`). */
  truncate?: boolean;
  /** Send no faster than this, like a client on a slow line. */
  pace?: { bytesPerSecond: number };
  /** `binary`: POST /fhir/Binary with the file as the whole body (its Content-Type, no multipart), as FHIR clients create a Binary. */
  to?: 'files' | 'binary';
}

export interface UploadResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Milliseconds from the moment the `at` callback ran (or the request started) to the answer's headers. */
  answeredAfterMs: number;
  /** File bytes written before the answer arrived. */
  sentBeforeAnswer: number;
  /** Socket errors the client saw while sending (EPIPE, ECONNRESET), after or instead of an answer. */
  sendError?: string;
}

const BOUNDARY = 'x-clinical-attachments-test-boundary';
const CHUNK = 64 * 1024;

/**
 * Streams a multipart upload of any size from a content function, the way a
 * client library does: it keeps sending while the answer may already be
 * there, and never holds the file in memory.
 */
export function sendUpload(baseUrl: string, body: UploadBody, options: UploadOptions): Promise<UploadResult> {
  const raw = options.to === 'binary';
  const head = raw
    ? Buffer.alloc(0)
    : Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${body.fileName}"\r\n` +
          (body.contentType ? `Content-Type: ${body.contentType}\r\n` : '') +
          '\r\n',
      );
  const tail = raw ? Buffer.alloc(0) : Buffer.from(`\r\n${body.extraParts ?? ''}--${BOUNDARY}--\r\n`);
  const headers: Record<string, string> = {
    Authorization: `Bearer ${options.token}`,
    'Content-Type': raw ? (body.contentType ?? 'application/octet-stream') : `multipart/form-data; boundary=${BOUNDARY}`,
    ...(raw && { 'Content-Disposition': `attachment; filename="${body.fileName}"` }),
    ...options.headers,
  };
  if (!options.chunked) headers['Content-Length'] = String(head.length + body.size + tail.length);
  if (options.expectContinue) headers.Expect = '100-continue';

  return new Promise((resolve, reject) => {
    let marker = performance.now();
    let sent = 0;
    let answer: Omit<UploadResult, 'sendError' | 'body'> & { chunks: Buffer[] } | undefined;
    let sendError: string | undefined;
    let bodyDone = false;
    const finish = () => {
      if (!answer || !bodyDone) return;
      resolve({ ...answer, body: Buffer.concat(answer.chunks).toString(), sendError });
    };
    const req = request(`${baseUrl}${raw ? '/fhir/Binary' : '/files/upload'}`, { method: 'POST', headers });
    req.on('response', (res) => {
      answer = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        answeredAfterMs: performance.now() - marker,
        sentBeforeAnswer: sent,
        chunks: [],
      };
      res.on('data', (c: Buffer) => answer!.chunks.push(c));
      res.on('end', () => {
        bodyDone = true;
        finish();
      });
      res.on('error', (e) => reject(e));
    });
    req.on('error', (e) => {
      sendError = (e as NodeJS.ErrnoException).code ?? e.message;
      if (!answer) reject(new Error(`No answer: ${sendError} after ${sent} bytes`));
    });

    const write = (chunk: Buffer) =>
      new Promise<void>((ok) => {
        if (req.destroyed) return ok();
        if (req.write(chunk)) return ok();
        const done = () => {
          req.off('drain', done);
          req.off('close', done);
          ok();
        };
        req.once('drain', done);
        req.once('close', done);
      });
    const pump = async () => {
      if (options.expectContinue) {
        const proceed = await new Promise<boolean>((ok) => {
          req.once('continue', () => ok(true));
          req.once('response', () => ok(false));
          req.flushHeaders();
        });
        if (!proceed) return req.end();
      }
      await write(head);
      const buffer = Buffer.allocUnsafe(CHUNK);
      const began = performance.now();
      while (sent < body.size && !req.destroyed) {
        if (options.pace) {
          const due = began + (sent / options.pace.bytesPerSecond) * 1000;
          if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
        }
        let length = Math.min(CHUNK, body.size - sent);
        if (options.at && sent < options.at.offset && sent + length >= options.at.offset) length = options.at.offset - sent;
        if (length > 0) {
          const chunk = buffer.subarray(0, length);
          body.content(sent, chunk);
          await write(Buffer.from(chunk));
          sent += length;
        }
        if (options.at && sent === options.at.offset) {
          await options.at.run();
          marker = performance.now();
        }
      }
      if (!req.destroyed) {
        if (!options.truncate) await write(tail);
        req.end();
      }
    };
    pump().catch(reject);
  });
}

/** Filler text (lines of 'a') with `bad` written at each of the given offsets. */
export function textWith(bad: Buffer, ...offsets: number[]): Content {
  return (offset, chunk) => {
    for (let i = 0; i < chunk.length; i++) chunk[i] = (offset + i) % 80 === 79 ? 0x0a : 0x61;
    overlay(offset, chunk, bad, offsets);
  };
}

/** An MP4 (ftyp box, then filler) with `marker` written at the given offsets. */
export function mp4With(marker: Buffer = Buffer.alloc(0), ...offsets: number[]): Content {
  const ftyp = Buffer.from('000000186674797069736f6d0000020069736f6d6d703432', 'hex');
  return (offset, chunk) => {
    for (let i = 0; i < chunk.length; i++) chunk[i] = (offset + i) * 31 % 251;
    overlay(offset, chunk, ftyp, [0]);
    overlay(offset, chunk, marker, offsets);
  };
}

/** A JSON array of numbers; at each offset, `insert` (a run of '[', a control character) replaces the filler. */
export function jsonWith(insert: Buffer, ...offsets: number[]): Content {
  return (offset, chunk) => {
    for (let i = 0; i < chunk.length; i++) {
      const at = offset + i;
      chunk[i] = at === 0 ? 0x5b : at % 2 === 1 ? 0x30 : 0x2c;
    }
    overlay(offset, chunk, insert, offsets);
  };
}

function overlay(offset: number, chunk: Buffer, bytes: Buffer, offsets: number[]): void {
  for (const at of offsets) {
    const from = Math.max(at, offset);
    const to = Math.min(at + bytes.length, offset + chunk.length);
    for (let p = from; p < to; p++) chunk[p - offset] = bytes[p - at]!;
  }
}
