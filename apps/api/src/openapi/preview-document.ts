import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '@app/config';
import { AppModule } from '../app.module.js';
import { apiDocument } from './api-document.js';

/**
 * The document the service serves, as openapi.json holds it, built without
 * running anything: in preview mode no provider starts, so no database,
 * store or scanner is needed.
 */
export async function previewApiDocument(): Promise<string> {
  const config = loadConfig({ JWT_SECRET: 'the-openapi-document-needs-no-real-secret' });
  const app = await NestFactory.create(AppModule.forRoot(config), { preview: true, logger: false });
  try {
    return `${JSON.stringify(apiDocument(app), null, 2)}\n`;
  } finally {
    await app.close();
  }
}
