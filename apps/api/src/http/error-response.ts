import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The JSON body of every error outside /fhir. */
export class ErrorResponse {
  @ApiProperty({ example: 415 })
  statusCode!: number;

  @ApiProperty({ example: 'Unsupported Media Type' })
  error!: string;

  @ApiProperty({ example: 'The content is image/png, but the extension .pdf says application/pdf' })
  message!: string;

  @ApiPropertyOptional({ example: 'unsupported_content', description: 'Stable machine-readable reason' })
  code?: string;

  @ApiProperty({ example: '9b2f4c1e-4a57-4c39-8d3c-2a4f0f7c1d11', description: 'Also in the X-Request-Id header' })
  requestId!: string;
}
