import { Controller, Get, Module, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { Public } from '@app/tenancy';

export type HttpDuration = Histogram<'method' | 'route' | 'status'>;

/**
 * Metrics of one application instance. Its own registry (not prom-client's
 * global one), so several instances in a process never collide.
 */
export class Metrics {
  readonly registry = new Registry();
  /**
   * Labelled by route pattern (e.g. /files/:orgId/:fileName), never by the raw
   * path, so no organization or file id reaches the metrics and cardinality stays bounded.
   */
  readonly httpDuration: HttpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}

/** Scraped in-cluster like the probes; keep it off the ingress. */
@ApiExcludeController()
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  @Get()
  async scrape(@Res({ passthrough: true }) res: Response): Promise<string> {
    res.setHeader('Content-Type', this.metrics.registry.contentType);
    return this.metrics.registry.metrics();
  }
}

@Module({ providers: [Metrics], controllers: [MetricsController], exports: [Metrics] })
export class MetricsModule {}
