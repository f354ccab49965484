import { type DynamicModule, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from '@app/config';
import { loggerParams } from './logger-params.js';
import { PrincipalLogInterceptor } from './principal-log.interceptor.js';

/**
 * pino through nestjs-pino: its middleware opens each request's logging
 * context (AsyncLocalStorage), so whatever Nest's `Logger` writes while the
 * request is handled carries the request's id, and, once authenticated, its
 * organization and subject. main.ts makes its NativeLogger the app's logger.
 */
@Module({})
export class LoggingModule {
  static forRoot(log: AppConfig['log']): DynamicModule {
    return {
      module: LoggingModule,
      imports: [LoggerModule.forRoot(loggerParams(log))],
      providers: [{ provide: APP_INTERCEPTOR, useClass: PrincipalLogInterceptor }],
    };
  }
}
