import { ScannerUnavailableError } from '../errors.js';
import { parseReply } from './clamav-virus-scanner.js';

describe('parseReply', () => {
  it('reads only "stream: OK" as clean', () => {
    expect(parseReply('stream: OK', 'ClamAV 1.4.6')).toEqual({ status: 'clean', engine: 'ClamAV 1.4.6' });
  });

  it('reads "stream: <name> FOUND" as infected with that signature', () => {
    expect(parseReply('stream: Eicar-Test-Signature FOUND', 'e')).toEqual({ status: 'infected', signature: 'Eicar-Test-Signature', engine: 'e' });
  });

  it.each([
    ['the size limit', 'INSTREAM size limit exceeded. ERROR'],
    ['content over the scan limits', 'stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND'],
    ['an engine error', 'stream: Can\'t allocate memory ERROR'],
    ['an empty answer', ''],
    ['OK with trailing words', 'stream: OK but not really'],
    ['a lookalike', 'stream: OKAY'],
  ])('never treats %s as clean: it is unavailable', (_case, reply) => {
    expect(() => parseReply(reply, 'e')).toThrow(ScannerUnavailableError);
  });
});
