import { Logger, Module } from '@nestjs/common';
import { AppConfig } from '@app/config';
import { ClamavVirusScanner } from './adapters/clamav-virus-scanner.js';
import { ClamdClient } from './adapters/clamd-client.js';
import { DisabledVirusScanner } from './adapters/disabled-virus-scanner.js';
import { VirusScanner } from './virus-scanner.port.js';

function createScanner(config: AppConfig): VirusScanner {
  if (!config.clamav) {
    new Logger('Scanning').warn('CLAMAV_HOST is not set: uploads are stored without an antivirus scan');
    return new DisabledVirusScanner();
  }
  return new ClamavVirusScanner(new ClamdClient(config.clamav));
}

@Module({
  providers: [{ provide: VirusScanner, inject: [AppConfig], useFactory: createScanner }],
  exports: [VirusScanner],
})
export class ScanningModule {}
