/**
 * Names shared by the row-level security migration, the service's connections
 * and OrganizationScope. Postgres policies show a row of an organization's
 * table only to a transaction that set ORGANIZATION_SETTING to its
 * organization, or CROSS_ORGANIZATION_SETTING to 'on' (the sweepers).
 */

/**
 * The role the service's connections act as (SET ROLE, DATABASE_SERVICE_ROLE):
 * NOLOGIN, not the tables' owner, neither superuser nor BYPASSRLS, so the
 * policies apply to it. The migrations create it.
 */
export const SERVICE_ROLE = 'clinical_attachments_service';

/** Set for one transaction (SET LOCAL semantics): the organization whose rows it may see and write. */
export const ORGANIZATION_SETTING = 'app.organization_id';

/** Set to 'on' for one transaction: the named path that works across organizations. */
export const CROSS_ORGANIZATION_SETTING = 'app.cross_organization';
