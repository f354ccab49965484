import { Module } from '@nestjs/common';
import { AppConfig } from '@app/config';
import { DisabledVirusScanner } from './adapters/disabled-virus-scanner.js';
import { VirusScanner } from './virus-scanner.port.js';

function createScanner(config: AppConfig): VirusScanner {
  // Config validation refuses CLAMAV_HOST until the ClamAV adapter exists, so
  // reaching here with it set would mean skipping a scan that was asked for.
  if (config.clamav) throw new Error('ClamAV is configured but no ClamAV adapter is available');
  return new DisabledVirusScanner();
}

@Module({
  providers: [{ provide: VirusScanner, inject: [AppConfig], useFactory: createScanner }],
  exports: [VirusScanner],
})
export class ScanningModule {}
