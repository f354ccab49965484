export { AppConfig, ConfigError, loadConfig, type AuthConfig } from './app-config.js';
export { ConfigModule } from './config.module.js';
export { SUPPORTED_CONTENT_TYPES, type SupportedContentType } from './content-types.js';
