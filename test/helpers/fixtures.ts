import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');

/** shared/ lives beside the checkout (../shared); a copy of what the tests need is in fixtures/. */
export function fixturePath(...parts: string[]): string {
  return join(repoRoot, 'fixtures', ...parts);
}

export interface PduRecord {
  conn: number;
  pipe: string;
  n: number;
  dir: 'c2s' | 's2c';
  ptype: string;
  call_id: number;
  opnum?: number;
  op?: string;
  hex: string;
}

export function samplePdus(name: string): PduRecord[] {
  const text = readFileSync(fixturePath('samba', `${name}.pdus.jsonl`), 'utf8');
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as PduRecord);
}

export function allSampleNames(): string[] {
  const dir = fixturePath('samba');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.pdus.jsonl')).map((f) => f.replace('.pdus.jsonl', ''));
}

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
