/**
 * Association groups (docs/DCERPC.md §7). A bind with assoc_group_id 0 creates a group; a non-zero
 * id must name a group that still has a connection on the same server, else bind_nak. One table
 * per server endpoint, shared by all its connections; a group disappears with its last connection.
 */
import { randomInt } from 'node:crypto';

export class AssocGroupTable {
  private readonly refs = new Map<number, number>();
  private readonly nextId: () => number;

  /** `nextId` picks candidate ids (tests may make it deterministic); 0 and ids in use are skipped. */
  constructor(nextId?: () => number) {
    this.nextId = nextId ?? ((): number => randomInt(1, 0x1_0000_0000));
  }

  /** Creates a group with one member and returns its non-zero id. */
  create(): number {
    for (;;) {
      const id = this.nextId() >>> 0;
      if (id !== 0 && !this.refs.has(id)) {
        this.refs.set(id, 1);
        return id;
      }
    }
  }

  /** Adds a member to an existing group; false when no such group exists. */
  join(id: number): boolean {
    const n = this.refs.get(id >>> 0);
    if (n === undefined) return false;
    this.refs.set(id >>> 0, n + 1);
    return true;
  }

  /** Removes a member; the group ends with its last member. */
  leave(id: number): void {
    const n = this.refs.get(id >>> 0);
    if (n === undefined) return;
    if (n <= 1) this.refs.delete(id >>> 0);
    else this.refs.set(id >>> 0, n - 1);
  }

  has(id: number): boolean {
    return this.refs.has(id >>> 0);
  }

  get size(): number {
    return this.refs.size;
  }
}
