import { Logger, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AppConfig } from '@app/config';
import { AccessTokenVerifier } from './access-token-verifier.port.js';
import { loadOrCreateDevelopmentSecret } from './adapters/development-secret.js';
import { JoseTokenVerifier } from './adapters/jose-token-verifier.js';
import { AuthenticationGuard } from './authentication.guard.js';
import { OwnOrganizationGuard } from './own-organization.guard.js';

async function createVerifier(config: AppConfig): Promise<AccessTokenVerifier> {
  const auth = { ...config.auth, scopeClaim: config.audit.scopeClaim };
  switch (auth.mode) {
    case 'hs256':
      return JoseTokenVerifier.create({ ...auth, key: { secret: auth.secret } });
    case 'jwks':
      return JoseTokenVerifier.create({ ...auth, key: { jwksUrl: auth.jwksUrl } });
    case 'development': {
      const { secret, created } = await loadOrCreateDevelopmentSecret(config.dataDir);
      new Logger('Tenancy').warn(
        `No JWT_SECRET or JWT_JWKS_URL: using the development secret in DATA_DIR${created ? ' (just created)' : ''}. ` +
          'Mint a token with `npm run token -- --org <id>`. Never run like this in production.',
      );
      return JoseTokenVerifier.create({ ...auth, key: { secret } });
    }
  }
}

/**
 * Authentication and organization isolation. The verifier adapter is chosen
 * here from the validated config; the guard is installed for every route.
 */
@Module({
  providers: [
    { provide: AccessTokenVerifier, inject: [AppConfig], useFactory: createVerifier },
    { provide: APP_GUARD, useClass: AuthenticationGuard },
    OwnOrganizationGuard,
  ],
  exports: [OwnOrganizationGuard],
})
export class TenancyModule {}
