/**
 * The running count of a long tool run, on standard error. On a terminal the line is rewritten in
 * place; in a log or a pipe (not a TTY), where carriage returns would pile every update onto one
 * endless line, an update becomes a line of its own at most once per `everyMs`, and the last
 * update is always printed by `end()`.
 */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  update(text: string): void;
  /** Finish the line on a terminal, or print the last update a log has not seen yet. */
  end(): void;
}

export function progress(stream: ProgressStream = process.stderr, everyMs = 10_000, now: () => number = Date.now): Progress {
  let shown = false;
  let pending: string | undefined;
  let lastAt = -Infinity;
  return {
    update(text) {
      if (stream.isTTY) {
        stream.write(`\r  ${text}\x1b[K`);
        shown = true;
        return;
      }
      const t = now();
      if (t - lastAt >= everyMs) {
        stream.write(`  ${text}\n`);
        lastAt = t;
        pending = undefined;
      } else pending = text;
    },
    end() {
      if (stream.isTTY) {
        if (shown) stream.write('\n');
        shown = false;
      } else if (pending !== undefined) {
        stream.write(`  ${pending}\n`);
        pending = undefined;
      }
    },
  };
}
