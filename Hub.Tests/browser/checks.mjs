// Assertions shared by the browser tests: a failure of the test itself (told apart from a crash), and polling.

export class Failure extends Error {}

export function assert(condition, message) {
  if (!condition) {
    throw new Failure(message);
  }
}

/** Polls `probe` every `intervalMs` until `accept(value)`; fails with the last value seen. */
export async function eventually(description, probe, accept = Boolean, timeoutMs = 15000, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (accept(last)) {
      return last;
    }
    if (Date.now() > deadline) {
      throw new Failure(`timed out after ${timeoutMs} ms waiting for ${description}; last seen: ${JSON.stringify(last)}`);
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs));
  }
}
