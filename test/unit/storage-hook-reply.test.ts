import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeCheck, decodeCreate, decodeHello, decodeList, decodeSupports, decodeVolume, HookReplyError,
} from '../../src/storage/hook-reply.js';
import { parseHooks, backendNames } from '../../src/cli/config-hooks.js';
import { parseConfig } from '../../src/cli/config.js';

const DECODERS = [decodeHello, decodeSupports, decodeVolume, decodeCheck, decodeCreate, decodeList];

/** Runs a decoder; any exception other than HookReplyError fails the property. */
function total(decode: (s: string) => unknown, text: string): void {
  try {
    decode(text);
  } catch (e) {
    if (!(e instanceof HookReplyError)) throw e;
  }
}

describe('hook replies', () => {
  it('decode every verb\'s reply, ignoring keys they do not know', () => {
    expect(decodeHello('{"protocol":1,"description":"zfs on tank","vendor":"x"}\n')).toEqual({ protocol: 1, description: 'zfs on tank' });
    expect(decodeSupports('{"supported":false,"reason":"not a dataset"}')).toEqual({ supported: false, reason: 'not a dataset' });
    expect(decodeVolume(' {"id":"tank/home","root":"/tank/home"} ')).toEqual({ id: 'tank/home', root: '/tank/home' });
    expect(decodeCheck('{"refusal":null}')).toEqual({ refusal: null });
    expect(decodeCheck('{}')).toEqual({ refusal: null });
    expect(decodeCheck('{"refusal":{"path":"/tank/home/x","reason":"a child dataset"}}')).toEqual({ refusal: { path: '/tank/home/x', reason: 'a child dataset' } });
    expect(decodeCreate('{"path":"/tank/home/.zfs/snapshot/n"}')).toEqual({ path: '/tank/home/.zfs/snapshot/n' });
    expect(decodeList('{"snapshots":[{"name":"n","path":"/s/n","writable":true,"createdAt":1765000000000},{"name":"m","path":"/s/m"}]}'))
      .toEqual({ snapshots: [{ name: 'n', path: '/s/n', writable: true, createdAt: 1765000000000 }, { name: 'm', path: '/s/m' }] });
  });

  it.each([
    [decodeHello, '', /printed nothing/],
    [decodeHello, 'OK', /not JSON/],
    [decodeHello, '[1]', /the reply must be a JSON object/],
    [decodeHello, '{"protocol":"1"}', /"protocol" must be a positive integer/],
    [decodeSupports, '{"supported":"yes"}', /"supported" must be true or false/],
    [decodeVolume, '{"id":"v","root":"tank/home"}', /"root" must be an absolute, normalised path/],
    [decodeVolume, '{"id":"v","root":"/tank/../etc"}', /normalised/],
    [decodeVolume, '{"id":"v","root":"/"}', /other than \//],
    [decodeVolume, '{"id":"a\\u0000b","root":"/t"}', /"id" holds a control character/],
    [decodeVolume, '{"root":"/t"}', /"id" must be a non-empty string/],
    [decodeCreate, '{"path":"/s/n/"}', /"path" must be an absolute/],
    [decodeCheck, '{"refusal":"no"}', /"refusal" must be a JSON object/],
    [decodeList, '{"snapshots":{}}', /"snapshots" must be a list/],
    [decodeList, '{"snapshots":[{"name":"n","path":"/s","createdAt":-1}]}', /snapshots\[0\]: "createdAt"/],
    [decodeList, `{"snapshots":[{"name":"${'x'.repeat(5000)}","path":"/s"}]}`, /longer than 4096/],
  ] as const)('refuse a malformed reply with a message that says what is wrong (%#)', (decode, text, message) => {
    expect(() => decode(text)).toThrow(HookReplyError);
    expect(() => decode(text)).toThrow(message);
  });

  it('are total: any text gives a reply or a HookReplyError, nothing else', () => {
    const json = fc.jsonValue().map((v) => JSON.stringify(v));
    const shaped = fc.record({
      protocol: fc.oneof(fc.integer(), fc.string()), supported: fc.oneof(fc.boolean(), fc.string()), id: fc.string(), root: fc.string(),
      path: fc.oneof(fc.string(), fc.constant('/a/b')), refusal: fc.jsonValue(),
      snapshots: fc.oneof(fc.array(fc.record({ name: fc.string(), path: fc.string(), writable: fc.jsonValue(), createdAt: fc.jsonValue() }, { requiredKeys: [] })), fc.jsonValue()),
    }, { requiredKeys: [] }).map((v) => JSON.stringify(v));
    fc.assert(fc.property(fc.oneof(fc.string(), json, shaped), (text) => {
      for (const d of DECODERS) total(d, text);
    }), { numRuns: 3000 });
  });
});

describe('storage.hooks configuration', () => {
  const fail = (path: string, msg: string): never => { throw new Error(`${path}: ${msg}`); };

  it('reads a hook with its arguments, environment and limits, and lets shares choose it', () => {
    const c = parseConfig({
      shares: { static: { home: { path: '/tank/home', backend: 'zfs' } } },
      storage: { defaultBackend: 'zfs', hooks: { zfs: { command: '/usr/local/lib/zfs-hook', args: ['--pool', 'tank'], env: { ZFS_OPTS: '-x' }, timeoutSeconds: 30, createTimeoutSeconds: 900, detect: true } } },
    });
    expect(c.storage.hooks).toEqual({ zfs: { command: '/usr/local/lib/zfs-hook', args: ['--pool', 'tank'], env: { ZFS_OPTS: '-x' }, timeoutSeconds: 30, createTimeoutSeconds: 900, detect: true } });
    expect(c.storage.defaultBackend).toBe('zfs');
    expect(c.shares.static?.home?.backend).toBe('zfs');
    expect(backendNames(c.storage.hooks)).toEqual(['btrfs', 'copy', 'zfs']);
  });

  it.each([
    [{ zfs: { command: 'zfs-hook' } }, /\$\.h\.zfs\.command: must be an absolute path/],
    [{ zfs: {} }, /\$\.h\.zfs\.command: must be a non-empty string/],
    [{ btrfs: { command: '/x' } }, /btrfs is a built-in backend/],
    [{ 'ZFS': { command: '/x' } }, /a hook name is a lower-case letter/],
    [{ zfs: { command: '/x', shell: true } }, /\$\.h\.zfs\.shell: unknown key/],
    [{ zfs: { command: '/x', args: '--pool tank' } }, /args: must be a list of strings/],
    [{ zfs: { command: '/x', env: { PATH: '/opt/bin' } } }, /env\.PATH: PATH is set by the agent/],
    [{ zfs: { command: '/x', env: { 'A-B': '1' } } }, /not a valid environment variable name/],
    [{ zfs: { command: '/x', createTimeoutSeconds: 0 } }, /createTimeoutSeconds: must be an integer from 1 to 86400/],
    [{ zfs: { command: '/x', detect: 'yes' } }, /detect: must be true or false/],
  ])('refuses %j, naming the key', (hooks, message) => {
    expect(() => parseHooks(hooks, '$.h', fail)).toThrow(message);
  });

  it('refuses a share or default backend that names no configured hook', () => {
    expect(() => parseConfig({ shares: { static: { home: { path: '/tank/home', backend: 'zfs' } } } }))
      .toThrow(/\$\.shares\.static\.home\.backend: must be one of btrfs, copy \(a hook must be configured in storage\.hooks\)/);
    expect(() => parseConfig({ storage: { defaultBackend: 'lvm', hooks: { zfs: { command: '/x' } } } }))
      .toThrow(/defaultBackend: must be one of btrfs, copy, zfs/);
  });
});
