export { ScanningModule } from './scanning.module.js';
export { VirusScanner, type ScanVerdict } from './virus-scanner.port.js';
export { ScannerUnavailableError } from './errors.js';
