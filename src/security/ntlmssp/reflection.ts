/**
 * Reflection defence: the server challenges an acceptor issued recently. An NTLM reflection
 * attack hands an acceptor's CHALLENGE to an initiator in the same process (or host) so that
 * its AUTHENTICATE can be replayed back to that acceptor. An initiator given the registry
 * refuses a CHALLENGE whose server challenge is in it. Bounded: the oldest entries go first.
 * The agent shares `processChallenges` between its acceptors and any initiator it runs.
 */
const MAX_ENTRIES = 4096;
const LIFETIME_MS = 30 * 60 * 1000;

const keyOf = (challenge: Uint8Array): string => Buffer.from(challenge).toString('hex');

export class ChallengeRegistry {
  private readonly issued = new Map<string, number>();

  remember(challenge: Uint8Array, now = Date.now()): void {
    const k = keyOf(challenge);
    this.issued.delete(k);
    this.issued.set(k, now);
    while (this.issued.size > MAX_ENTRIES) {
      const oldest = this.issued.keys().next();
      if (oldest.done === true) break;
      this.issued.delete(oldest.value);
    }
  }

  has(challenge: Uint8Array, now = Date.now()): boolean {
    const at = this.issued.get(keyOf(challenge));
    return at !== undefined && now - at <= LIFETIME_MS;
  }

  get size(): number {
    return this.issued.size;
  }
}

/** The registry of this process's acceptors. */
export const processChallenges = new ChallengeRegistry();
