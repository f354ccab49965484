import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ConfigError, loadConfig } from '@app/config';
import type { Server } from 'node:http';
import { AppModule } from './app.module.js';
import { configureApp } from './configure-app.js';
import { GracefulShutdown } from './http/graceful-shutdown.js';
import { createLogger } from './logging/logger-params.js';
import { collectYoungBuffersEarly } from './young-buffer-collection.js';

async function bootstrap(): Promise<void> {
  collectYoungBuffersEarly();
  let config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${e.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { logger: createLogger(config.log) });
  const logger = new Logger('Bootstrap');
  configureApp(app, config);
  await app.listen(config.port);
  logger.log(`Listening on port ${config.port}; docs at /docs`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down`);
    app
      .get(GracefulShutdown)
      .drain(app.getHttpServer() as Server)
      .then(() => app.close())
      .then(
        () => process.exit(0),
        (e: unknown) => {
          logger.error(`Shutdown failed: ${(e as Error).message}`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

await bootstrap();
