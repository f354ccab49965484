import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { ResourceIssue } from '@app/fhir';

/** FHIR IssueType for each status this service answers with. */
const ISSUE_TYPE: Record<number, OperationOutcomeIssue['code']> = {
  400: 'invalid',
  401: 'login',
  403: 'forbidden',
  404: 'not-found',
  405: 'not-supported',
  406: 'not-supported',
  409: 'conflict',
  412: 'conflict',
  413: 'too-long',
  415: 'not-supported',
  422: 'processing',
  503: 'transient',
};

/** Whether a request is answered the FHIR way (errors as OperationOutcome). */
export function isFhirRequest(originalUrl: string): boolean {
  // Case-insensitive, as Express routes: /FHIR/Binary is the same route and gets the same error body.
  return /^\/fhir(?:[/?#]|$)/i.test(originalUrl);
}

/** An error as FHIR says: one issue per problem, with the element it is about when known. */
export function operationOutcome(status: number, message: string, issues?: readonly ResourceIssue[]): OperationOutcome {
  const code = ISSUE_TYPE[status] ?? (status >= 500 ? 'exception' : 'invalid');
  const list: ResourceIssue[] = issues && issues.length > 0 ? [...issues] : [{ message }];
  return {
    resourceType: 'OperationOutcome',
    issue: list.map((i) => ({
      severity: 'error',
      code: status === 422 && issues ? 'invalid' : code,
      details: { text: i.message },
      ...(i.expression ? { expression: [i.expression] } : {}),
    })),
  };
}
