/** Waits for `work` to settle, or `ms`, whichever comes first; `work` goes on either way. */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([work.then(() => undefined, () => undefined), elapsed]);
  clearTimeout(timer);
}
