/**
 * Watches a promise that work goes on without awaiting: whether it rejected,
 * and with what, can be asked at any later point, and `onRejected` runs as
 * soon as it does. The rejection counts as handled.
 */
export function watchRejection(promise: Promise<unknown> | undefined, onRejected?: () => void): { readonly rejected?: { error: unknown } } {
  const watch: { rejected?: { error: unknown } } = {};
  promise?.catch((error: unknown) => {
    watch.rejected = { error };
    onRejected?.();
  });
  return watch;
}
