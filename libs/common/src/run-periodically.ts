/**
 * Runs `task` every `intervalMs`, never two runs at once; a failed run is
 * reported and the next one goes ahead. The timer does not keep the process
 * alive. Returns the function that stops it.
 */
export function runPeriodically(task: () => Promise<unknown>, intervalMs: number, onError: (e: Error) => void): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    task()
      .catch((e: unknown) => onError(e as Error))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
