import { MAX_JSON_DEPTH } from '@app/common';
import { createBodyCheck } from './body-check.js';
import { UnsupportedContentError } from './errors.js';

function run(recognition: 'text' | 'json', ...chunks: Buffer[]): void {
  const check = createBodyCheck(recognition)!;
  for (const c of chunks) check.update(c);
  check.end();
}

describe('text body check', () => {
  it('accepts UTF-8 whose multi-byte characters are split across chunks', () => {
    const bytes = Buffer.from('Nächste Kontrolle: 7 Tage ✓');
    const cut = bytes.indexOf(0xc3) + 1;
    expect(() => run('text', bytes.subarray(0, cut), bytes.subarray(cut))).not.toThrow();
  });

  it('refuses invalid UTF-8', () => {
    expect(() => run('text', Buffer.from([0x41, 0xc3, 0x28]))).toThrow(/not valid UTF-8/);
  });

  it('refuses a truncated multi-byte character at the very end', () => {
    expect(() => run('text', Buffer.from([0x41, 0xe2, 0x9c]))).toThrow(UnsupportedContentError);
  });

  it('refuses NUL bytes', () => {
    expect(() => run('text', Buffer.from('a\u0000b'))).toThrow(/NUL/);
  });
});

describe('JSON body check', () => {
  it('accepts JSON split anywhere, including inside strings and numbers', () => {
    const bytes = Buffer.from('{"valueQuantity": {"value": 5.4, "unit": "mmol/L"}, "note": "Ärztin"}');
    for (let cut = 1; cut < bytes.length; cut += 7) {
      expect(() => run('json', bytes.subarray(0, cut), bytes.subarray(cut))).not.toThrow();
    }
  });

  it.each([
    ['an unterminated object', '{"a": 1'],
    ['a trailing comma', '[1, 2,]'],
    ['two documents', '{} {}'],
    ['bare words', 'hello'],
    ['nothing but whitespace', '   '],
  ])('refuses %s', (_case, text) => {
    expect(() => run('json', Buffer.from(text))).toThrow(/not valid JSON/);
  });

  it('refuses nesting deeper than MAX_JSON_DEPTH levels before the verifier has to hold it', () => {
    const deep = Buffer.from('['.repeat(5_000_000));
    const started = process.memoryUsage().heapUsed;
    expect(() => run('json', deep)).toThrow(new UnsupportedContentError('json_too_deep', `The JSON is nested deeper than ${MAX_JSON_DEPTH} levels`));
    expect(process.memoryUsage().heapUsed - started).toBeLessThan(64 * 1024 * 1024);
  });

  it('accepts MAX_JSON_DEPTH levels, and brackets inside strings at any count', () => {
    expect(() => run('json', Buffer.from('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)))).not.toThrow();
    expect(() => run('json', Buffer.from(JSON.stringify({ note: '[[[['.repeat(1000) + '\\"{' })))).not.toThrow();
  });

  it('says where the JSON broke', () => {
    expect(() => run('json', Buffer.from('{\n  "a": tru\n}'))).toThrow(/line 2/);
  });
});
