import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ConfigError, loadConfig } from '@app/config';
import { AppModule } from './app.module.js';
import { configureApp } from './configure-app.js';
import { createLogger } from './logger.js';

async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${e.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  const logger = createLogger(config.log);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { logger });
  configureApp(app, config);
  await app.listen(config.port);
  logger.log(`Listening on port ${config.port}; docs at /docs`, 'Bootstrap');
}

await bootstrap();
