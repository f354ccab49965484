import { Controller, Get } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '@app/tenancy';

/** `GET /`: where to go from here, for whoever opens the service's address in a browser or curl. */
@ApiExcludeController()
@Public()
@Controller()
export class RootController {
  @Get()
  index() {
    return {
      service: 'Clinical attachment file service',
      docs: '/docs',
      openapi: '/openapi.json',
      fhir: '/fhir/metadata',
      health: '/health/ready',
    };
  }
}
