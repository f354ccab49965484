/** What FHIR JSON is accepted and declared as: FHIR's own type, and plain JSON for generic clients. */
export const FHIR_MEDIA_TYPES = ['application/fhir+json', 'application/json'] as const;

/** The Content-Type of every answer under /fhir, errors included. */
export const FHIR_JSON = 'application/fhir+json; charset=utf-8';
