import { Controller, Get, Req } from '@nestjs/common';
import { ApiOkResponse, ApiSchema, ApiOperation, ApiProperty, ApiPropertyOptional, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { principalOf } from '@app/tenancy';
import { ErrorResponse } from '../http/error-response.js';

@ApiSchema({ name: 'WhoAmI' })
class WhoAmIDto {
  @ApiProperty({ example: '3fa85f64-5717-4562-b3fc-2c963f66afa6' })
  organizationId!: string;

  @ApiPropertyOptional({ description: "The token's subject (sub), when it has one" })
  subject?: string;
}

/** Which organization a token acts for: the quickest way for a client to check its credentials. */
@ApiTags('auth')
@Controller('whoami')
export class WhoAmIController {
  @Get()
  @ApiOperation({
    operationId: 'whoAmI',
    summary: 'The organization (and subject) the bearer token acts for',
    description: 'The quickest way to check a token: 401 says why it is refused.',
  })
  @ApiOkResponse({ type: WhoAmIDto, description: 'The organization' })
  @ApiResponse({ status: 401, description: 'No bearer token, or one that is not valid', type: ErrorResponse })
  whoAmI(@Req() req: Request): WhoAmIDto {
    const principal = principalOf(req)!;
    return { organizationId: principal.organizationId, subject: principal.subject };
  }
}
