import { inRequest, runInRequest } from './request-scope.js';

describe('request scope', () => {
  it('is known inside a request, through awaits and timers, and nowhere else', async () => {
    expect(inRequest()).toBe(false);
    const seen = await runInRequest(async () => {
      const first = inRequest();
      await new Promise((r) => setTimeout(r, 1));
      const afterTimer = await new Promise<boolean>((r) => setImmediate(() => r(inRequest())));
      return [first, inRequest(), afterTimer];
    });
    expect(seen).toEqual([true, true, true]);
    expect(inRequest()).toBe(false);
  });

  it('does not reach work started before the request, such as a sweeper timer', async () => {
    let sweeperSaw: boolean | undefined;
    const sweeper = setInterval(() => (sweeperSaw = inRequest()), 1);
    await runInRequest(() => new Promise((r) => setTimeout(r, 10)));
    clearInterval(sweeper);
    expect(sweeperSaw).toBe(false);
  });
});
