import { performance } from 'node:perf_hooks';
import { setTimeout as realDelay } from 'node:timers/promises';

/**
 * Resolves once `condition` holds, looking again every few milliseconds of real time (Node's own
 * timer: jest's fake timers leave it alone). The deadline only turns a hang into a clear failure;
 * it is far beyond what a busy machine needs and never what a test waits for.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what = 'the condition',
  withinMs = 10_000,
): Promise<void> {
  const start = performance.now();
  while (!(await condition())) {
    if (performance.now() - start > withinMs)
      throw new Error(`${what} did not hold within ${withinMs} ms`);
    await realDelay(2);
  }
}

/** A promise and whether it has settled yet, to assert that something is still waiting. */
export function watch<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let settled = false;
  const done = () => {
    settled = true;
  };
  promise.then(done, done);
  return { promise, settled: () => settled };
}
