declare const brand: unique symbol;

/**
 * An organization id that has been validated. Repository methods take this
 * type, so a query without a checked organization does not compile.
 */
export type OrganizationId = string & { readonly [brand]: 'OrganizationId' };

/** What an organization id may look like (the token's claim, and the first segment of every key). */
export const ORGANIZATION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function parseOrganizationId(value: unknown): OrganizationId | undefined {
  return typeof value === 'string' && ORGANIZATION_ID.test(value) ? (value as OrganizationId) : undefined;
}
