/**
 * What the generated-client flows share: where the service is, a lab report
 * of a realistic size, and checks that say which step went wrong. Written as
 * a client author would, with no casts: the generated types must be enough.
 */

export interface FlowEnvironment {
  baseUrl: string;
  token: string;
  /** Bytes of the PDF the flow uploads. */
  pdfBytes: number;
}

export function flowEnvironment(): FlowEnvironment {
  const { API_BASE_URL, API_TOKEN, PDF_BYTES } = process.env;
  if (!API_BASE_URL || !API_TOKEN) throw new Error('Set API_BASE_URL and API_TOKEN');
  return { baseUrl: API_BASE_URL, token: API_TOKEN, pdfBytes: Number(PDF_BYTES ?? 3 * 1024 * 1024) };
}

/** A PDF of `size` bytes: the header a content check looks for, comment lines, and the trailer. */
export function labReport(size: number): File {
  const head = new TextEncoder().encode('%PDF-1.7\n1 0 obj <<>> endobj\n');
  const tail = new TextEncoder().encode('\ntrailer <<>>\n%%EOF\n');
  const bytes = new Uint8Array(size);
  bytes.fill(0x20);
  for (let i = head.length; i < size - tail.length; i += 64) bytes[i] = 0x0a;
  bytes[head.length] = 0x25; // '%': the filler is a comment
  bytes.set(head, 0);
  bytes.set(tail, size - tail.length);
  return new File([bytes], 'lab-report.pdf', { type: 'application/pdf' });
}

export function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`Flow failed: ${what}`);
}

export async function sameBytes(a: Blob, b: Blob): Promise<boolean> {
  const [x, y] = [new Uint8Array(await a.arrayBuffer()), new Uint8Array(await b.arrayBuffer())];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** The flow's record, one JSON line on stdout, for the test to read. */
export function report(steps: Record<string, number | string | boolean>): void {
  process.stdout.write(`${JSON.stringify(steps)}\n`);
}
