import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import type { Observable } from 'rxjs';
import { principalOf } from '@app/tenancy';

/**
 * Adds the verified token's organization and subject to every line the rest of
 * the request logs. Global interceptors run after the guards, so the
 * authentication guard has attached the principal by now (or the route is public).
 */
@Injectable()
export class PrincipalLogInterceptor implements NestInterceptor {
  constructor(private readonly logger: PinoLogger) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const principal = context.getType() === 'http' ? principalOf(context.switchToHttp().getRequest<object>()) : undefined;
    if (principal) this.logger.assign({ organizationId: principal.organizationId, ...(principal.subject !== undefined && { subject: principal.subject }) });
    return next.handle();
  }
}
