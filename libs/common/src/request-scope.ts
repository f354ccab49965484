import { AsyncLocalStorage } from 'node:async_hooks';

const handling = new AsyncLocalStorage<true>();

/** Runs `handle`, and everything it starts, as the handling of an HTTP request. */
export function runInRequest<T>(handle: () => T): T {
  return handling.run(true, handle);
}

/**
 * Whether the caller runs on behalf of an HTTP request. A request acts for the
 * one organization of its token, so what crosses organizations refuses to run
 * where this is true.
 */
export function inRequest(): boolean {
  return handling.getStore() === true;
}
