import { Counter, Registry } from 'prom-client';
import type { ChangeFeed, ChangeListener } from '@app/database';
import type { OrganizationId } from '@app/tenancy';
import type { FhirJson } from '../domain/resource-types.js';
import { ResourceReadCache } from './resource-read-cache.js';

/** The one collaborator, a feed whose currency and notifications the test sets. */
class FakeFeed {
  isCurrent = true;
  listener?: ChangeListener;
  readonly enabled = true;
  current(): boolean {
    return this.isCurrent;
  }
  subscribe(l: ChangeListener): void {
    this.listener = l;
  }
}

const org = 'org-a' as OrganizationId;
const key = ResourceReadCache.key(org, 'DocumentReference', 'd1');

function setUp(capacity = 10) {
  const feed = new FakeFeed();
  const outcomes = new Counter({ name: 'reads', help: 'reads', labelNames: ['outcome'] as const, registers: [new Registry()] });
  const cache = new ResourceReadCache(feed as unknown as ChangeFeed, capacity, outcomes);
  let version = 0;
  let loads = 0;
  const load = async (): Promise<FhirJson> => {
    loads++;
    return { resourceType: 'DocumentReference', id: 'd1', meta: { versionId: String(++version) } };
  };
  const counts = async () => Object.fromEntries((await outcomes.get()).values.map((v) => [v.labels.outcome, v.value]));
  return { feed, cache, load, loads: () => loads, counts };
}

describe('ResourceReadCache', () => {
  it('answers the second read from memory, and a change makes the next read ask again', async () => {
    const { feed, cache, load, loads, counts } = setUp();
    expect((await cache.resource(key, load))!.meta).toEqual({ versionId: '1' });
    expect((await cache.resource(key, load))!.meta).toEqual({ versionId: '1' });
    expect(loads()).toBe(1);
    feed.listener!.changed(key);
    expect((await cache.resource(key, load))!.meta).toEqual({ versionId: '2' });
    expect(loads()).toBe(2);
    expect(await counts()).toEqual({ miss: 2, hit: 1 });
  });

  it('asks the database while the feed is not current, without forgetting', async () => {
    const { feed, cache, load, loads } = setUp();
    await cache.resource(key, load);
    feed.isCurrent = false;
    expect((await cache.resource(key, load))!.meta).toEqual({ versionId: '2' });
    expect(loads()).toBe(2);
  });

  it('keeps nothing from a read that a change overtook', async () => {
    const { feed, cache, loads } = setUp();
    let release!: () => void;
    const slow = () =>
      new Promise<FhirJson>((resolve) => {
        release = () => resolve({ resourceType: 'DocumentReference', id: 'd1', meta: { versionId: 'old' } });
      });
    const reading = cache.resource(key, slow);
    // A change to another resource does not matter; this one's commits after the database answered, and its notice arrives before the answer does.
    feed.listener!.changed(ResourceReadCache.key(org, 'Patient', 'other'));
    feed.listener!.changed(key);
    release();
    expect((await reading)!.meta).toEqual({ versionId: 'old' });
    let loaded = 0;
    await cache.resource(key, async () => {
      loaded++;
      return { resourceType: 'DocumentReference', id: 'd1' };
    });
    expect(loaded).toBe(1);
    expect(loads()).toBe(0);
  });

  it('keeps a read that only changes to other resources overtook', async () => {
    const { feed, cache, load, loads } = setUp();
    const reading = cache.resource(key, load);
    feed.listener!.changed(ResourceReadCache.key(org, 'Patient', 'other'));
    await reading;
    await cache.resource(key, load);
    expect(loads()).toBe(1);
  });

  it('keeps nothing from a read that a lost feed overtook', async () => {
    const { feed, cache, load, loads } = setUp();
    const reading = cache.resource(key, load);
    feed.listener!.lost();
    await reading;
    await cache.resource(key, load);
    expect(loads()).toBe(2);
  });

  it('forgets everything when the feed is lost', async () => {
    const { feed, cache, load, loads } = setUp();
    await cache.resource(key, load);
    feed.listener!.lost();
    await cache.resource(key, load);
    expect(loads()).toBe(2);
  });

  it('does not keep a resource that was not found', async () => {
    const { cache } = setUp();
    let loads = 0;
    const none = async () => {
      loads++;
      return null;
    };
    await cache.resource(key, none);
    await cache.resource(key, none);
    expect(loads).toBe(2);
  });

  it('answers an attachment read only from an entry that has the files, and keeps the files for plain reads too', async () => {
    const { cache, load, loads } = setUp();
    await cache.resource(key, load);
    let withFiles = 0;
    const loadWithFiles = async () => {
      withFiles++;
      return { resource: { resourceType: 'DocumentReference', id: 'd1' }, files: [{ fileName: 'f.pdf', contentType: null }] };
    };
    await cache.withFiles(key, loadWithFiles);
    expect((await cache.withFiles(key, loadWithFiles))!.files).toEqual([{ fileName: 'f.pdf', contentType: null }]);
    expect(await cache.resource(key, load)).toEqual({ resourceType: 'DocumentReference', id: 'd1' });
    expect([loads(), withFiles]).toEqual([1, 1]);
  });

  it('hands out frozen values, shared by every reader', async () => {
    const { cache, load } = setUp();
    const first = (await cache.resource(key, load))!;
    expect(() => {
      (first.meta as { versionId: string }).versionId = 'x';
    }).toThrow(TypeError);
    expect(await cache.resource(key, load)).toBe(first);
  });

  it('lets the oldest resource go at capacity', async () => {
    const { cache, load } = setUp(2);
    const keys = ['a', 'b', 'c'].map((id) => ResourceReadCache.key(org, 'Patient', id));
    for (const k of keys) await cache.resource(k, load);
    let again = 0;
    const counted = async () => {
      again++;
      return { resourceType: 'Patient' };
    };
    await cache.resource(keys[2]!, counted);
    await cache.resource(keys[1]!, counted);
    await cache.resource(keys[0]!, counted);
    expect(again).toBe(1);
  });

  it('keeps organizations apart: the same type and id of another organization is another entry', async () => {
    const { cache, load } = setUp();
    await cache.resource(key, load);
    const other = await cache.resource(ResourceReadCache.key('org-b' as OrganizationId, 'DocumentReference', 'd1'), async () => null);
    expect(other).toBeNull();
  });
});
