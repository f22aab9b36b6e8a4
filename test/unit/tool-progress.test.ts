import { describe, expect, it } from 'vitest';
import { progress } from '../../tools/lib/progress.js';

function sink(isTTY: boolean): { isTTY: boolean; out: string[]; write(text: string): boolean } {
  const out: string[] = [];
  return { isTTY, out, write: (text: string) => out.push(text) > 0 };
}

describe('tool progress lines', () => {
  it('rewrites one line in place on a terminal and ends it with a newline', () => {
    const s = sink(true);
    const p = progress(s);
    p.update('1/3');
    p.update('2/3');
    p.end();
    expect(s.out.join('')).toBe('\r  1/3\x1b[K\r  2/3\x1b[K\n');
  });

  it('writes nothing at the end on a terminal when nothing was shown', () => {
    const s = sink(true);
    progress(s).end();
    expect(s.out).toEqual([]);
  });

  it('in a log prints a line of its own at most once per interval, and the last update at the end', () => {
    const s = sink(false);
    let t = 1000;
    const p = progress(s, 10_000, () => t);
    p.update('100/1000');
    t += 4000;
    p.update('200/1000');
    t += 6000;
    p.update('300/1000');
    t += 1000;
    p.update('400/1000');
    p.end();
    expect(s.out).toEqual(['  100/1000\n', '  300/1000\n', '  400/1000\n']);
    expect(s.out.join('')).not.toContain('\r');
  });

  it('in a log does not repeat an update already printed', () => {
    const s = sink(false);
    const p = progress(s, 10_000, () => 0);
    p.update('done 5/5');
    p.end();
    expect(s.out).toEqual(['  done 5/5\n']);
  });
});
