import type { Counter } from 'prom-client';
import type { ChangeFeed, ChangeListener } from '@app/database';
import type { OrganizationId } from '@app/tenancy';
import type { FhirJson, ResourceType } from '../domain/resource-types.js';
import type { ResourceWithFiles } from '../ports/resource.repository.port.js';

/** What is kept of a resource: itself, and the facts of the files it links once an attachment's redirect has asked for them. */
interface Kept {
  resource: FhirJson;
  files?: ResourceWithFiles['files'];
}

/**
 * Resources read from the database, kept in memory for the next reads and
 * attachment redirects, for as long as the ChangeFeed proves that this
 * replica has seen every change answered so far: a read while it is not
 * current goes to the database, a change forgets the resource, and a lost
 * feed forgets everything. A read that races a change is not kept: a
 * change to the resource, or a loss of the feed, seen between the start of
 * a database read and its answer forgets the answer too. The oldest kept
 * resource goes first when `capacity` is reached. What it returns is
 * frozen: shared by every reader.
 */
export class ResourceReadCache implements ChangeListener {
  private readonly kept = new Map<string, Kept>();
  /** Resources being read from the database, with the changes to each seen meanwhile: a read that saw one keeps nothing. */
  private readonly reading = new Map<string, { readers: number; changes: number }>();
  /** Feeds lost so far: a read that saw one keeps nothing either. */
  private losses = 0;

  constructor(
    private readonly feed: ChangeFeed,
    private readonly capacity: number,
    private readonly outcomes: Counter<'outcome'>,
  ) {
    feed.subscribe(this);
  }

  /** The name the ChangeFeed gives a resource (see migration 1765000000000). */
  static key(organizationId: OrganizationId, type: ResourceType, id: string): string {
    return `${organizationId}/${type}/${id}`;
  }

  changed(key: string): void {
    this.kept.delete(key);
    const read = this.reading.get(key);
    if (read) read.changes++;
  }

  lost(): void {
    this.losses++;
    this.kept.clear();
  }

  resource(key: string, load: () => Promise<FhirJson | null>): Promise<FhirJson | null> {
    return this.through(key, (k) => k.resource, load, (resource) => ({ resource }));
  }

  withFiles(key: string, load: () => Promise<ResourceWithFiles | null>): Promise<ResourceWithFiles | null> {
    return this.through(
      key,
      (k) => (k.files ? { resource: k.resource, files: k.files } : undefined),
      load,
      (found) => found,
    );
  }

  private async through<T extends object>(key: string, from: (k: Kept) => T | undefined, load: () => Promise<T | null>, keep: (value: T) => Kept): Promise<T | null> {
    if (!this.feed.current()) {
      this.outcomes.inc({ outcome: 'not_current' });
      return deepFreeze(await load());
    }
    const kept = this.kept.get(key);
    const hit = kept && from(kept);
    if (hit) {
      this.outcomes.inc({ outcome: 'hit' });
      return hit;
    }
    const read = this.reading.get(key) ?? { readers: 0, changes: 0 };
    this.reading.set(key, read);
    read.readers++;
    const [changes, losses] = [read.changes, this.losses];
    let value: T | null;
    try {
      value = await load();
    } finally {
      if (--read.readers === 0) this.reading.delete(key);
    }
    const raced = read.changes !== changes || this.losses !== losses;
    // Not found is not kept: a create needs no one to forget anything.
    if (value === null || raced) {
      this.outcomes.inc({ outcome: value === null ? 'not_found' : 'raced' });
      // Frozen as a kept one is, so that a change in place fails every time, not only on a hit.
      return deepFreeze(value);
    }
    this.outcomes.inc({ outcome: 'miss' });
    this.kept.delete(key);
    if (this.kept.size >= this.capacity) this.kept.delete(this.kept.keys().next().value!);
    // Freezing what is kept freezes `value` with it.
    this.kept.set(key, deepFreeze(keep(value)));
    return value;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
