import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { FileLinks, MalformedResourceError, parseSecurityContext } from '@app/fhir';
import { principalOf } from '@app/tenancy';
import { isFhirResourceBody } from '../files/upload.interceptor.js';

/**
 * Before a Binary is created with a securityContext (the X-Security-Context
 * header of a raw create, or Binary.securityContext of a FHIR JSON one): the
 * resource it names must exist in the organization (422), and the refusal
 * comes before a byte of the file is read or stored. A context deleted later
 * makes the Binary unreadable (403), as one deleted a moment after this check.
 */
@Injectable()
export class SecurityContextGuard implements CanActivate {
  constructor(private readonly links: FileLinks) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request>();
    const principal = principalOf(req);
    if (!principal) return true; // the authentication guard has answered already
    const header = req.header('x-security-context');
    if (header !== undefined && isFhirResourceBody(req)) {
      // One source for it: the header is for raw bytes, which have nowhere else to carry it.
      throw new MalformedResourceError('A FHIR JSON Binary carries its securityContext in the resource: leave X-Security-Context out');
    }
    if (header !== undefined) {
      await this.links.requireContext(principal.organizationId, parseSecurityContext(header, 'X-Security-Context'), 'X-Security-Context');
      return true;
    }
    const given = isFhirResourceBody(req) ? (req.body as { securityContext?: { reference?: unknown } } | undefined)?.securityContext : undefined;
    if (given !== undefined) {
      const where = 'Binary.securityContext.reference';
      await this.links.requireContext(principal.organizationId, parseSecurityContext(given?.reference, where), where);
    }
    return true;
  }
}
