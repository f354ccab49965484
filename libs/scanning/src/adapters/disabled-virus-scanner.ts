import type { Readable } from 'node:stream';
import { VirusScanner, type ScanVerdict } from '../virus-scanner.port.js';

/** Scanning switched off (no CLAMAV_HOST). Asking it to scan is a programming error. */
export class DisabledVirusScanner extends VirusScanner {
  readonly enabled = false;

  scan(_content: Readable): Promise<ScanVerdict> {
    return Promise.reject(new Error('Scanning is disabled; check `enabled` before scanning'));
  }

  async check(): Promise<void> {}
}
