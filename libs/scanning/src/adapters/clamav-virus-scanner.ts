import type { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { ScannerUnavailableError } from '../errors.js';
import { VirusScanner, type ScanVerdict } from '../virus-scanner.port.js';
import type { ClamdClient } from './clamd-client.js';

/** Signature updates change the engine string; refresh it this often. */
const VERSION_TTL_MS = 10 * 60_000;

/**
 * Scanning with clamd INSTREAM. Only "stream: OK" is clean and only
 * "stream: <name> FOUND" is infected; anything else, including the
 * Heuristics.Limits.Exceeded alerts for content clamd did not fully scan,
 * is ScannerUnavailableError, never clean.
 */
export class ClamavVirusScanner extends VirusScanner {
  readonly enabled = true;
  private readonly logger = new Logger('ClamAV');
  private engine?: { value: string; at: number };

  constructor(private readonly clamd: ClamdClient) {
    super();
  }

  async scan(content: Readable): Promise<ScanVerdict> {
    const [reply, engine] = await Promise.all([this.clamd.instream(content), this.engineVersion()]);
    return parseReply(reply, engine);
  }

  async check(): Promise<void> {
    await this.clamd.ping();
  }

  private async engineVersion(): Promise<string> {
    if (this.engine && Date.now() - this.engine.at < VERSION_TTL_MS) return this.engine.value;
    const value = await this.clamd.version();
    if (value !== this.engine?.value) this.logger.log(`Scanning with ${value}`);
    this.engine = { value, at: Date.now() };
    return value;
  }
}

export function parseReply(reply: string, engine: string): ScanVerdict {
  if (reply === 'stream: OK') return { status: 'clean', engine };
  const found = /^stream: (\S+) FOUND$/.exec(reply);
  if (found && !found[1]!.startsWith('Heuristics.Limits.Exceeded')) {
    return { status: 'infected', signature: found[1]!, engine };
  }
  throw new ScannerUnavailableError(`clamd gave no verdict: "${reply}"`);
}
