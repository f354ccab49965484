import type { Readable } from 'node:stream';

export type ScanVerdict =
  | { status: 'clean'; engine: string }
  | { status: 'infected'; signature: string; engine: string };

/**
 * Port: antivirus scanning. `scan` consumes the stream it is given; it must
 * reject (never answer clean) when the engine cannot give a verdict.
 */
export abstract class VirusScanner {
  /** False when no scanner is configured: uploads are recorded as not scanned. */
  abstract readonly enabled: boolean;
  abstract scan(content: Readable): Promise<ScanVerdict>;
  /** Throws if scanning is on and the engine cannot scan now (readiness). */
  abstract check(): Promise<void>;
}
