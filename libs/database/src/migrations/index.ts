import { CreateStoredFiles1763800000000 } from './1763800000000-create-stored-files.js';
import { PrepareStoredFilesForFhir1763900000000 } from './1763900000000-prepare-stored-files-for-fhir.js';
import { CreateFhirResources1764000000000 } from './1764000000000-create-fhir-resources.js';
import { KeepFileReleaseTombstones1764100000000 } from './1764100000000-keep-file-release-tombstones.js';
import { ListFilesNewestFirst1764200000000 } from './1764200000000-list-files-newest-first.js';
import { RowLevelSecurity1764300000000 } from './1764300000000-row-level-security.js';
import { CreateAuditEvents1764400000000 } from './1764400000000-create-audit-events.js';
import { KeepLinkedFileFacts1764500000000 } from './1764500000000-keep-linked-file-facts.js';
import { KeepBinarySecurityContext1764600000000 } from './1764600000000-keep-binary-security-context.js';
import { KeepLinkedFileSecurityContext1764700000000 } from './1764700000000-keep-linked-file-security-context.js';
import { LinksTakeSecurityContextFromFiles1764800000000 } from './1764800000000-links-take-security-context-from-files.js';
import { OrganizationFunctions1764900000000 } from './1764900000000-organization-functions.js';
import { NotifyResourceChanges1765000000000 } from './1765000000000-notify-resource-changes.js';

/** Every migration, oldest first. The schema comes only from here. */
export const MIGRATIONS = [
  CreateStoredFiles1763800000000,
  PrepareStoredFilesForFhir1763900000000,
  CreateFhirResources1764000000000,
  KeepFileReleaseTombstones1764100000000,
  ListFilesNewestFirst1764200000000,
  RowLevelSecurity1764300000000,
  CreateAuditEvents1764400000000,
  KeepLinkedFileFacts1764500000000,
  KeepBinarySecurityContext1764600000000,
  KeepLinkedFileSecurityContext1764700000000,
  LinksTakeSecurityContextFromFiles1764800000000,
  OrganizationFunctions1764900000000,
  NotifyResourceChanges1765000000000,
];
