/**
 * Loopback addresses: the only ones the development TCP listener and the tools may use
 * (127.0.0.0/8, ::1, localhost). Textual check only; nothing is resolved.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
