import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import puppeteer, { type Browser, type ConsoleMessage, type Page } from 'puppeteer-core';

/** Where Debian (scripts/test-services.sh installs `chromium`) and other distributions put it. */
const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The system's Chromium: CHROMIUM_PATH, or the first candidate installed. No browser is ever downloaded. */
export function chromiumPath(): string {
  const candidates = process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : CHROMIUM_CANDIDATES;
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Try the next one.
    }
  }
  throw new Error(
    `Chromium not found (looked for ${candidates.join(', ')}): install it with \`apt-get install chromium\` ` +
      '(`npm test` does so through scripts/test-services.sh), or set CHROMIUM_PATH to a Chromium or Chrome executable',
  );
}

/** A headless Chromium driven over the DevTools protocol; `close()` ends it and every process it started. */
export async function launchChromium(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root in a container: no user namespaces for Chromium's sandbox. The pages are the tests' own.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/** What the browser wrote to a page's console (CORS and CSP refusals among them), as it wrote it. */
export function consoleOf(page: Page): string[] {
  const lines: string[] = [];
  page.on('console', (m: ConsoleMessage) => lines.push(m.text()));
  return lines;
}

/**
 * The page of test/fixtures/front-end, served on a loopback port of its own. The same server is two
 * origins, by host name: `http://localhost:<port>` and `http://127.0.0.1:<port>`, both other than the
 * API's `http://127.0.0.1:<its port>`.
 */
export interface FrontEnd {
  /** http://localhost:<port> */
  origin: string;
  /** http://127.0.0.1:<port>, the same page on an origin that a test leaves unlisted. */
  otherOrigin: string;
  close(): Promise<void>;
}

export async function startFrontEnd(): Promise<FrontEnd> {
  const page = readFileSync(join(process.cwd(), 'test/fixtures/front-end/index.html'));
  const server = createServer((req, res) => {
    if (req.url !== '/') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://localhost:${port}`,
    otherOrigin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
