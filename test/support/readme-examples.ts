import { readFileSync } from 'node:fs';

interface Block {
  lang: string;
  code: string;
}

/** What a reader does with each block of the README's walk-through, in order. */
const HOW_TO_RUN: Record<string, (code: string) => string> = {
  sh: (code) => code,
  js: (code) => `cat > fetch-attachment.mjs <<'README_EOF'\n${code}\nREADME_EOF\nnode fetch-attachment.mjs`,
  python: (code) => `cat > fetch_attachment.py <<'README_EOF'\n${code}\nREADME_EOF\n"$README_PYTHON" fetch_attachment.py`,
};

/** The fenced code blocks of one `## ` section of a Markdown file, in order. */
export function codeBlocks(markdownPath: string, section: string): Block[] {
  const text = readFileSync(markdownPath, 'utf8');
  const start = text.indexOf(`\n## ${section}\n`);
  if (start < 0) throw new Error(`No section '${section}' in ${markdownPath}`);
  const end = text.indexOf('\n## ', start + 1);
  const body = text.slice(start, end < 0 ? undefined : end);
  return [...body.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, code: m[2]!.trimEnd() }));
}

/**
 * The walk-through as one shell script, each block run as the README tells
 * the reader to (shell blocks pasted, JavaScript and Python saved to the file
 * it names and run), stopping at the first command that fails.
 */
export function walkThroughScript(blocks: Block[], shell: 'bash' | 'zsh'): string {
  const strict = shell === 'bash' ? 'set -euo pipefail' : 'setopt ERR_EXIT NO_UNSET PIPE_FAIL';
  const steps = blocks.map((b) => {
    const run = HOW_TO_RUN[b.lang];
    if (!run) throw new Error(`The README has a \`${b.lang}\` block in its walk-through that no test runs`);
    return run(b.code);
  });
  return [strict, ...steps].join('\n\n');
}
