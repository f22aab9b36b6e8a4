/**
 * What fsrvpd prints at start-up about shares and repairs: counts, at most MAX_LISTED names, and
 * the rest at debug level (fsrvp:cli). Exposed shadow copies are shares too (share@{GUID}); with
 * thousands of them one line of names helps nobody, so they are only counted.
 */
import type { Share } from '../shares/types.js';

export const MAX_LISTED = 20;

export interface StartupLog {
  /** Printed on stdout. */
  readonly lines: string[];
  /** Logged at debug level. */
  readonly debugLines: string[];
}

export function startupLog(shares: readonly Pick<Share, 'name' | 'path'>[], repairs: readonly unknown[]): StartupLog {
  const lines: string[] = [];
  const debugLines: string[] = [];
  for (const r of repairs.slice(0, MAX_LISTED)) lines.push(`fsrvpd: repaired: ${JSON.stringify(r)}`);
  if (repairs.length > MAX_LISTED) lines.push(`fsrvpd: … and ${repairs.length - MAX_LISTED} more repair(s) (DEBUG=fsrvp:cli lists them)`);
  for (const r of repairs.slice(MAX_LISTED)) debugLines.push(`repaired: ${JSON.stringify(r)}`);
  const exposed = shares.filter((s) => s.name.includes('@{'));
  const base = shares.filter((s) => !s.name.includes('@{'));
  if (base.length > 0) {
    const names = base.slice(0, MAX_LISTED).map((s) => `${s.name} (${s.path})`).join(', ');
    lines.push(`fsrvpd: ${base.length} share(s): ${names}${base.length > MAX_LISTED ? ', … (DEBUG=fsrvp:cli lists all)' : ''}`);
  }
  if (exposed.length > 0) lines.push(`fsrvpd: ${exposed.length} exposed shadow copy share(s)`);
  for (const s of base.slice(MAX_LISTED)) debugLines.push(`share ${s.name} (${s.path})`);
  for (const s of exposed) debugLines.push(`exposed share ${s.name} (${s.path})`);
  return { lines, debugLines };
}
