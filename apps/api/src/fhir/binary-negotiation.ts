import { DomainError } from '@app/common';

/** What a read of /fhir/Binary/<id> answers with: the Binary resource (FHIR JSON) or the file's own bytes. */
export type BinaryRepresentation = 'resource' | 'content';

export class NotAcceptableError extends DomainError {
  readonly kind = 'not_acceptable';
  readonly code = 'not_acceptable';
}

/** `_format` values that name FHIR JSON (R4 http.html#mime-type: json, application/json, application/fhir+json). */
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);

/** Media types that ask for the FHIR resource rather than its content (the second is DSTU2's, still sent by old clients). */
const FHIR_TYPES = ['application/fhir+json', 'application/json+fhir'];

/**
 * FHIR's rule for Binary (R4 binary.html#rest): the resource when `_format` or
 * Accept names a FHIR type, the content otherwise. `_format` wins over Accept
 * and always means the resource; only JSON is served, so an XML or Turtle
 * `_format` is 406. An Accept of `application/json` is the content when the
 * file is JSON and the resource otherwise; no Accept, a wildcard Accept and the file's own
 * type (or a range holding it) are the content; an Accept that admits neither
 * is 406, as IHE ITI-68 answers it. `accepts` is Express's req.accepts (the
 * client's preference among the offered types, by quality).
 */
export function negotiateBinary(
  format: unknown,
  accepts: (offered: string[]) => string | false,
  contentType: string,
): BinaryRepresentation {
  if (format !== undefined) {
    // An unencoded '+' in a query is a space: `_format=application/fhir+json` sent as typed. Repeated, every value must name JSON.
    const formats = Array.isArray(format) ? format : [format];
    if (formats.length > 0 && formats.every((f) => typeof f === 'string' && JSON_FORMATS.has(f.toLowerCase().replaceAll(' ', '+')))) return 'resource';
    throw new NotAcceptableError(`_format ${String(format)} is not served: use _format=json for the Binary resource, or leave it out for its content`);
  }
  const chosen = accepts([contentType, ...FHIR_TYPES, 'application/json']);
  if (chosen === false) {
    throw new NotAcceptableError(`This Binary is ${contentType}; accept it (or */*) for its content, or application/fhir+json for the resource`);
  }
  return FHIR_TYPES.includes(chosen) || (chosen === 'application/json' && contentType !== 'application/json') ? 'resource' : 'content';
}
