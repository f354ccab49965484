/**
 * Problems with a list of browser origins (`scheme://host[:port]`). Browsers send and compare origins
 * exactly as `URL.origin` writes them, so anything else (a path, a trailing slash, a default port,
 * upper case) would never match and fail silently in the browser: refuse it at start and say what was meant.
 */
export function originProblems(variable: string, origins: readonly string[] | undefined): string[] {
  return (origins ?? []).flatMap((value) => {
    const problem = originProblem(value);
    return problem ? [`${variable}: ${problem}`] : [];
  });
}

function originProblem(value: string): string | undefined {
  if (value === '*') {
    return "'*' is refused: list the exact origins of your front ends (e.g. https://app.example.org)";
  }
  if (value === 'null') {
    // Sandboxed frames, file: pages and some redirects all send `Origin: null`.
    return "'null' is refused: any sandboxed page or local file sends it";
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `'${value}' is not an origin: write scheme://host[:port], e.g. https://app.example.org`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return `'${value}' is not an http(s) origin`;
  }
  if (url.origin !== value) {
    return `'${value}' is not an origin (scheme://host[:port], no path, no trailing slash, no default port); did you mean '${url.origin}'?`;
  }
  return undefined;
}
