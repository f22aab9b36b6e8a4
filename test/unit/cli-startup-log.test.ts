import { describe, expect, it } from 'vitest';
import { MAX_LISTED, startupLog } from '../../src/cli/startup-log.js';

describe('fsrvpd start-up log', () => {
  it('counts 10,000 exposed shares on one short line and lists them only at debug level', () => {
    const exposed = Array.from({ length: 10_000 }, (_, i) => ({ name: `data@{${String(i).padStart(8, '0')}-0000-0000-0000-000000000000}`, path: `/snap/${i}` }));
    const base = Array.from({ length: 25 }, (_, i) => ({ name: `share${i}`, path: `/srv/${i}` }));
    const repairs = Array.from({ length: 30 }, (_, i) => ({ action: 'republish-share', target: `t${i}` }));
    const log = startupLog([...base, ...exposed], repairs);
    expect(log.lines).toContain('fsrvpd: 10000 exposed shadow copy share(s)');
    expect(log.lines.join('\n')).not.toContain('@{');
    expect(log.lines.every((l) => l.length < 2000)).toBe(true);
    const shareLine = log.lines.find((l) => l.startsWith('fsrvpd: 25 share(s): '))!;
    expect(shareLine).toContain('share0 (/srv/0)');
    expect(shareLine).not.toContain('share20 ');
    expect(shareLine).toMatch(/… \(DEBUG=fsrvp:cli lists all\)$/);
    expect(log.lines.filter((l) => l.startsWith('fsrvpd: repaired: '))).toHaveLength(MAX_LISTED);
    expect(log.lines).toContain('fsrvpd: … and 10 more repair(s) (DEBUG=fsrvp:cli lists them)');
    expect(log.debugLines.filter((l) => l.startsWith('exposed share '))).toHaveLength(10_000);
    expect(log.debugLines).toContain('share share24 (/srv/24)');
    expect(log.debugLines.filter((l) => l.startsWith('repaired: '))).toHaveLength(10);
  });

  it('prints nothing about shares when there are none', () => {
    expect(startupLog([], [])).toEqual({ lines: [], debugLines: [] });
  });
});
