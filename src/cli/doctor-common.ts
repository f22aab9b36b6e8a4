/**
 * What every part of `fsrvpd doctor` shares: running a tool (never through a shell), and the
 * findings a check adds to the report.
 */
import { execFile } from 'node:child_process';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}
export type Exec = (file: string, args: readonly string[]) => Promise<ExecResult>;

export const execTool: Exec = (file, args) => new Promise((resolve) => {
  execFile(file, args, { timeout: 60_000, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
    const raw = (err as { code?: unknown } | null)?.code;
    resolve({ code: err ? (typeof raw === 'number' ? raw : 127) : 0, stdout: String(stdout), stderr: String(stderr) || (err?.message ?? '') });
  });
});

export type Status = 'ok' | 'info' | 'missing' | 'error' | 'fixed';

export interface Finding {
  readonly status: Status;
  readonly check: string;
  readonly detail: string;
}

/** The findings of one run, in order. */
export class Report {
  readonly findings: Finding[] = [];
  readonly confLines: string[] = [];
  add(status: Status, check: string, detail: string): void {
    this.findings.push({ status, check, detail });
  }
  /** Replaces the 'missing' finding of a check (fixed later in the run). */
  resolve(check: string, status: Status, detail: string): void {
    const i = this.findings.findIndex((f) => f.check === check && f.status === 'missing');
    if (i >= 0) this.findings[i] = { status, check, detail };
    else this.add(status, check, detail);
  }
}

/** A titled section of findings, one per line, and a closing verdict (bad: any error or missing). */
export function formatSection(title: string, findings: readonly Finding[], verdict: { bad: string; good: string }): string {
  const tag: Record<Status, string> = { ok: 'ok', info: 'info', missing: 'MISSING', error: 'ERROR', fixed: 'fixed' };
  const lines = [title];
  for (const f of findings) lines.push(`  ${tag[f.status].padEnd(8)} ${f.check}: ${f.detail}`);
  const bad = findings.some((f) => f.status === 'error' || f.status === 'missing');
  lines.push('', bad ? verdict.bad : verdict.good);
  return lines.join('\n');
}
