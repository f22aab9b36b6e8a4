import { readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadCapture, type CapturedPdu } from '../../src/replay/capture.js';

export type { CapturedPdu };

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');

/** shared/ lives beside the checkout (../shared); a copy of what the tests need is in fixtures/. */
export function fixturePath(...parts: string[]): string {
  return join(repoRoot, 'fixtures', ...parts);
}

/** The PDUs of one capture in fixtures/samba (the replay tool's own loader). */
export function samplePdus(name: string): CapturedPdu[] {
  return loadCapture(fixturePath('samba', `${name}.pdus.jsonl`));
}

export function allSampleNames(): string[] {
  const dir = fixturePath('samba');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.pdus.jsonl')).map((f) => f.replace('.pdus.jsonl', ''));
}

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
