import { Controller, Get, Module, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { MetricsModule as ServiceMetricsModule, ServiceMetrics } from '@app/common';
import { Public } from '@app/tenancy';

/** Scraped in-cluster like the probes; keep it off the ingress. */
@ApiExcludeController()
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: ServiceMetrics) {}

  @Get()
  async scrape(@Res({ passthrough: true }) res: Response): Promise<string> {
    res.setHeader('Content-Type', this.metrics.registry.contentType);
    return this.metrics.registry.metrics();
  }
}

/** The Prometheus endpoint, over the metrics every module writes to (ServiceMetrics, global). */
@Module({ imports: [ServiceMetricsModule], controllers: [MetricsController] })
export class MetricsModule {}
