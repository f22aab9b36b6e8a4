import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/cli/config.js';
import { sharePolicyResolver } from '../../src/cli/config-policy.js';
import type { Share } from '../../src/shares/types.js';

const share = (name: string): Share => ({ name, path: `/srv/${name}` }) as Share;

describe('policy configuration keys', () => {
  it('parses storage.policy, shares.static.NAME.policy and storage.sharePolicies, and resolves per share', () => {
    const c = parseConfig({
      storage: { policy: { profile: 'faithful' }, sharePolicies: { VMs: { profile: 'hyperv', maxDepth: 0, maxEntries: 2_000_000 } } },
      shares: { static: { Data: { path: '/srv/data', policy: { profile: 'hyperv', refuseHardLinks: false } } } },
    });
    expect(c.storage.policy).toEqual({ profile: 'faithful' });
    expect(c.storage.sharePolicies).toEqual({ VMs: { profile: 'hyperv', maxDepth: Infinity, maxEntries: 2_000_000 } });
    expect(c.shares.static!.Data!.policy).toEqual({ profile: 'hyperv', refuseHardLinks: false });
    const resolve = sharePolicyResolver(c.storage, c.shares.static);
    expect(resolve(share('vms'))).toEqual({ profile: 'hyperv', maxDepth: Infinity, maxEntries: 2_000_000 });
    expect(resolve(share('DATA'))).toEqual({ profile: 'hyperv', refuseHardLinks: false });
    expect(resolve(share('other'))).toEqual({ profile: 'faithful' });
    // No storage.policy: hyperv with the older storage.maxDepth / refuseHardLinks.
    const old = parseConfig({ storage: { maxDepth: 3, refuseHardLinks: false } });
    expect(sharePolicyResolver(old.storage, old.shares.static)(share('x'))).toEqual({ profile: 'hyperv', maxDepth: 3, refuseHardLinks: false });
  });

  it.each([
    [{ storage: { policy: { profile: 'strict' } } }, /\$\.storage\.policy\.profile: must be one of hyperv, faithful/],
    [{ storage: { policy: 'hyperv' } }, /\$\.storage\.policy: must be an object/],
    [{ storage: { policy: { profile: 'hyperv', depth: 3 } } }, /\$\.storage\.policy\.depth: unknown key \(known: profile, maxDepth, maxEntries, refuseHardLinks\)/],
    [{ storage: { policy: { maxDepth: -1 } } }, /\$\.storage\.policy\.maxDepth: must be an integer from 0 \(no limit\) to 1000/],
    [{ storage: { policy: { maxEntries: 1.5 } } }, /\$\.storage\.policy\.maxEntries: must be an integer/],
    [{ storage: { policy: { profile: 'faithful', refuseHardLinks: true } } }, /refuseHardLinks: only for the hyperv profile/],
    [{ storage: { sharePolicies: { VMs: { refuseHardLinks: 'yes' } } } }, /\$\.storage\.sharePolicies\.VMs\.refuseHardLinks: must be true or false/],
    [{ shares: { static: { D: { path: '/srv/d', policy: { profile: 'none' } } } } }, /shares\.static\.D\.policy\.profile: must be one of/],
  ])('rejects %j with a clear message', (json, message) => {
    expect(() => parseConfig(json)).toThrow(ConfigError);
    expect(() => parseConfig(json)).toThrow(message);
  });
});
