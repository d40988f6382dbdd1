import { jest } from '@jest/globals';

/** The event loop's own turns and Node's clocks for measuring: never faked here. */
const EVENT_LOOP = [
  'hrtime',
  'nextTick',
  'performance',
  'queueMicrotask',
  'requestAnimationFrame',
  'cancelAnimationFrame',
  'requestIdleCallback',
  'cancelIdleCallback',
  'setImmediate',
  'clearImmediate',
] as const;

/** Fakes only `Date`: Redis, HTTP and every timer (a lease's polling too) stay on real time. */
export function fakeDateOnly(now?: Date): void {
  jest.useFakeTimers({
    doNotFake: [...EVENT_LOOP, 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'],
    ...(now === undefined ? {} : { now }),
  });
}

/**
 * Fakes `Date` and the global timers (`setTimeout`, `setInterval`): whatever the library waits for
 * with them — a shared-cache call's `cache.timeoutMs`, the startup connect wait, retry and lease
 * pauses — lasts until the test moves the clock (`jest.advanceTimersByTimeAsync`), however busy the
 * machine. I/O, `setImmediate` and `nextTick` stay real, and so do the timers Node and the Redis
 * client keep for themselves (`node:timers/promises`, socket timeouts): Redis reconnects and HTTP
 * answers as usual.
 */
export function fakeClock(now?: Date): void {
  jest.useFakeTimers({ doNotFake: [...EVENT_LOOP], ...(now === undefined ? {} : { now }) });
}

/**
 * Puts `AbortSignal.timeout` on the fake clock of {@link fakeClock}: Node runs it on a timer jest
 * cannot fake, so without this an `http.timeoutMs` expires on real time. Undone by
 * `jest.restoreAllMocks()`.
 */
export function fakeAbortTimeouts(): void {
  jest.spyOn(AbortSignal, 'timeout').mockImplementation((ms: number) => {
    const controller = new AbortController();
    const reason = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    setTimeout(() => controller.abort(reason), ms);
    return controller.signal;
  });
}
