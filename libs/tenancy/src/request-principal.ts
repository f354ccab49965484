import type { Principal } from './access-token-verifier.port.js';

const PRINCIPAL = Symbol('principal');

type WithPrincipal = { [PRINCIPAL]?: Principal };

export function attachPrincipal(request: object, principal: Principal): void {
  (request as WithPrincipal)[PRINCIPAL] = principal;
}

/** The principal the authentication guard attached, if any. */
export function principalOf(request: object): Principal | undefined {
  return (request as WithPrincipal)[PRINCIPAL];
}
