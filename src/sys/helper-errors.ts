/** How a helper request (helper-process.ts) can fail: the three error classes callers tell apart. */

/** The helper cannot be started here (interpreter or module missing, or it refused): use the fallback. */
export class HelperUnavailableError extends Error {
  override readonly name = 'HelperUnavailableError';
}

export type HelperFailureKind = 'exited' | 'timeout' | 'aborted' | 'closed' | 'protocol';

/** The request got no answer: the helper died, timed out, was closed, or the caller aborted. */
export class HelperFailure extends Error {
  override readonly name = 'HelperFailure';
  constructor(readonly kind: HelperFailureKind, message: string) {
    super(message);
  }
}

/** Whether `e` means "do it without the helper": it cannot start here, or it died, timed out or was closed. */
export function helperGone(e: unknown): boolean {
  return e instanceof HelperUnavailableError || e instanceof HelperFailure;
}

/** The helper answered with a failure of the operation itself (`ok: false`). */
export class HelperError extends Error {
  override readonly name = 'HelperError';
  constructor(
    readonly op: string,
    /** errno name (`EEXIST`) or another code the helper defines (`SBC_ERR_NO_SUCH_SERVICE`). */
    readonly code: string,
    message: string,
    readonly errno?: number,
    helperName?: string,
  ) {
    super(`${helperName ? `${helperName} helper: ` : ''}${message}${message.includes(code) ? '' : ` (${code})`}`);
  }
}
