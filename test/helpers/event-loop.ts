/** Counting turns of the event loop while something runs: proof that a long job yields. */

/** Runs `job` and returns its result with the number of setImmediate turns taken meanwhile. */
export async function withTurnCount<T>(job: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let running = true;
  const tick = (): void => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    const result = await job();
    return { result, turns };
  } finally {
    running = false;
  }
}
