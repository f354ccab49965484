import { request as httpRequest } from 'node:http';
import { mp4OfSize } from './sample-files.js';

/**
 * Starts a multipart upload announcing `announcedBytes`, sends `sentBytes`
 * of a real MP4, waits so the server is mid-write, then drops the connection:
 * closes it (a FIN, after which the client might still read an answer), or
 * resets it (an RST: nobody is left to answer).
 */
export async function abortUploadMidway(baseUrl: string, token: string, sentBytes: number, announcedBytes: number, how: 'close' | 'reset' = 'close'): Promise<void> {
  const boundary = 'abort-boundary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n`;
  const req = httpRequest(`${baseUrl}/files/upload`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': `multipart/form-data; boundary=${boundary}`,
      'Content-Length': String(head.length + announcedBytes),
    },
  });
  req.on('error', () => undefined);
  req.write(head);
  req.write(mp4OfSize(sentBytes));
  await new Promise((r) => setTimeout(r, 400));
  if (how === 'reset') req.socket?.resetAndDestroy();
  req.destroy();
}

/** Retries an assertion until it passes or the time is up (clean-up after an abort is asynchronous). */
export async function eventually(assertion: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertion();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
