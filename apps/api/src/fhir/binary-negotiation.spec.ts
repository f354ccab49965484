import accepts from 'accepts';
import { NotAcceptableError, negotiateBinary } from './binary-negotiation.js';

/** req.accepts as Express answers it, for an Accept header. */
const acceptsOf = (accept?: string) => (offered: string[]): string | false => {
  const chosen = accepts({ headers: accept === undefined ? {} : { accept } } as never).type(offered);
  return typeof chosen === 'string' ? chosen : false;
};

describe('negotiateBinary', () => {
  it.each([
    [undefined, undefined, 'application/pdf', 'content'],
    [undefined, '*/*', 'application/pdf', 'content'],
    [undefined, 'application/pdf', 'application/pdf', 'content'],
    [undefined, 'application/*', 'application/pdf', 'content'],
    [undefined, 'application/fhir+json', 'application/pdf', 'resource'],
    [undefined, 'application/json+fhir', 'application/pdf', 'resource'],
    [undefined, 'application/json', 'application/pdf', 'resource'],
    [undefined, 'application/json', 'application/json', 'content'],
    [undefined, 'application/fhir+json;q=0.5, application/pdf', 'application/pdf', 'content'],
    [undefined, 'application/pdf;q=0.5, application/fhir+json', 'application/pdf', 'resource'],
    ['json', 'application/pdf', 'application/pdf', 'resource'],
    ['application/fhir+json', '*/*', 'application/pdf', 'resource'],
    ['application/fhir json', '*/*', 'application/pdf', 'resource'],
    ['JSON', undefined, 'image/png', 'resource'],
    [['json', 'json'], 'application/pdf', 'application/pdf', 'resource'],
  ])('_format %s, Accept %s, a %s file: the %s', (format, accept, type, expected) => {
    expect(negotiateBinary(format, acceptsOf(accept), type)).toBe(expected);
  });

  it.each([
    [undefined, 'image/png', 'application/pdf'],
    [undefined, 'text/html', 'application/pdf'],
    ['xml', '*/*', 'application/pdf'],
    ['application/fhir+xml', 'application/fhir+json', 'application/pdf'],
    [['json', 'xml'], '*/*', 'application/pdf'],
  ])('_format %s, Accept %s, a %s file: 406', (format, accept, type) => {
    expect(() => negotiateBinary(format, acceptsOf(accept), type)).toThrow(NotAcceptableError);
  });
});
