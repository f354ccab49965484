import { CreateStoredFiles1763800000000 } from './1763800000000-create-stored-files.js';

/** Every migration, oldest first. The schema comes only from here. */
export const MIGRATIONS = [CreateStoredFiles1763800000000];
