import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { from, mergeMap, type Observable } from 'rxjs';
import { patientOf, type FhirJson } from '@app/fhir';
import { AccessAudit, noteAccess, recordedQuery } from './access-audit.js';

/**
 * Records the audit event of every audited route whose handler returns its
 * answer (uploads, file listings, FHIR create/read/update/delete/search), after
 * the handler and before Nest sends the answer, with what the answer says: the
 * stored file's key, the resource and the patient it is about. Handlers that
 * write the answer themselves (downloads, signed URLs, the 307) call
 * AccessAudit.success before they do; refusals are recorded by the exception filter.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(private readonly audit: AccessAudit) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<Request>();
    const res = context.switchToHttp().getResponse<Response>();
    const action = this.audit.actionOf(req);
    if (!action) return next.handle();
    return next.handle().pipe(
      mergeMap((answer: unknown) =>
        from(
          (async () => {
            noteAnswer(req, answer, action === 'search');
            await this.audit.success(req, res.statusCode);
            return answer;
          })(),
        ),
      ),
    );
  }
}

/** The entities an answer names: an uploaded file's key, a resource and its patient, a search's query. */
function noteAnswer(req: Request, answer: unknown, search: boolean): void {
  const params = req.params as Record<string, string | undefined>;
  if (search) {
    const type = params.type ?? (req.path.startsWith('/files') ? 'files' : 'AuditEvent');
    const query = new URL(req.originalUrl, 'http://localhost').searchParams;
    const patient = patientSearchedFor(query);
    noteAccess(req, { query: recordedQuery(query, type), ...(patient && { patient }) });
    return;
  }
  if (typeof answer !== 'object' || answer === null) return;
  const resource = answer as FhirJson & { key?: unknown };
  if (typeof resource.key === 'string') noteAccess(req, { file: resource.key });
  if (typeof resource.resourceType === 'string' && typeof resource.id === 'string' && resource.resourceType !== 'AuditEvent') {
    const patient = patientOf(resource);
    noteAccess(req, { resource: `${resource.resourceType}/${resource.id}`, ...(patient && { patient }) });
  }
}

/** `Patient/<id>` a search asks about: its `patient` (an id or Patient/<id>), else a `subject` that names a Patient. */
function patientSearchedFor(query: URLSearchParams): string | undefined {
  const patient = query.get('patient');
  const subject = query.get('subject');
  const match = /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/.exec(patient ?? (subject?.startsWith('Patient/') ? subject : ''));
  return match ? `Patient/${match[1]}` : undefined;
}
