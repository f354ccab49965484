import { IfMatchRequiredError, MalformedResourceError } from './errors.js';

/**
 * `W/"3"` or `"3"` → 3. Absent, or `*` ("whichever version exists", RFC 9110;
 * the resource must exist anyway) → undefined, or IfMatchRequiredError when
 * the operator requires the version read. For the If-Match header and a
 * Bundle entry's request.ifMatch alike.
 */
export function versionFromIfMatch(ifMatch: string | undefined, required: boolean): number | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') {
    if (required) throw new IfMatchRequiredError();
    return undefined;
  }
  const m = /^(?:W\/)?"(\d{1,9})"$/.exec(ifMatch.trim());
  if (!m) throw new MalformedResourceError('If-Match must be a version ETag such as W/"3"');
  return Number(m[1]);
}
