/**
 * One request to the store with a time limit of its own (the lease path's attempts, and
 * `node startup`'s read of the cluster at boot): however the network behaves, it ends by then.
 */

/** How one bounded request ended. `abandoned`: ended by the time limit (or the caller's abort). */
export type Attempt<T> = { ok: true; value: T } | { ok: false; error: string; abandoned: boolean };

/**
 * Runs one request within `limitMs`. The abort closes its connection; the race ends the attempt
 * even if something under the request (a credential lookup, a store that ignores the signal) does
 * not listen. Aborting `controller` from outside ends it at once too.
 */
export async function attemptWithin<T>(request: (abortSignal: AbortSignal) => Promise<T>, limitMs: number, controller = new AbortController()): Promise<Attempt<T>> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<Attempt<T>>((resolve) => {
    // Aborted by the time limit or by the caller: the attempt ends now either way.
    controller.signal.addEventListener('abort', () => resolve({ ok: false, error: String((controller.signal.reason as Error)?.message), abandoned: true }), { once: true });
    timer = setTimeout(() => controller.abort(new Error(`no answer within ${Math.round(limitMs)} ms`)), limitMs);
  });
  const call = request(controller.signal).then(
    (value): Attempt<T> => ({ ok: true, value }),
    (error: unknown): Attempt<T> => ({ ok: false, error: String((error as Error)?.message ?? error), abandoned: controller.signal.aborted }),
  );
  try {
    return await Promise.race([call, limit]);
  } finally {
    clearTimeout(timer);
  }
}
