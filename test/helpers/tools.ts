import { execFileSync } from 'node:child_process';

/**
 * Makes sure a command exists. When it does not, installs the Debian package (as CI does) if we
 * are root; otherwise fails with a message that says what to install. Never skips.
 */
export function requireTool(command: string, debianPackage: string): void {
  const has = (): boolean => {
    try {
      execFileSync('which', [command], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (has()) return;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('apt-get', ['install', '-y', '-q', debianPackage], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch {
      // reported below
    }
  }
  if (!has()) throw new Error(`${command} is required for this test: apt-get install ${debianPackage}`);
}
