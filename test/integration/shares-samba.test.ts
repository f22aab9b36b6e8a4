import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/sys/exec.js';
import { SambaShareRegistry } from '../../src/shares/registry.js';
import { SambaRegistryPublisher } from '../../src/shares/samba.js';
import { getParam, parseSmbConf } from '../../src/shares/smbconf.js';
import type { PublishRequest, Share } from '../../src/shares/types.js';
import { requireTools } from '../../tools/lib/loopfs.js';
import { makePrivateDirs, privateGlobal, sambaTools } from '../helpers/smbconf.js';

const guid = (i: number): string => `cccccccc-0000-0000-0000-${String(i).padStart(12, '0')}`;
const ACL = 'D:(A;;0x001f01ff;;;BA)(A;;0x001200a9;;;WD)';

let dir: string;
let conf: string;
let snapPath: string;
const data: Share = { name: 'Data', path: '' };

const { net, sharesec, hasStoredSd } = sambaTools(() => conf, () => dir);
async function showshare(name: string): Promise<ReturnType<typeof parseSmbConf>[number]> {
  return parseSmbConf(await net('conf', 'showshare', name))[0]!;
}

function request(i: number, readOnly: boolean, base: Share = data): PublishRequest {
  return {
    name: `${base.name}@{${guid(i)}}${base.name.endsWith('$') ? '$' : ''}`,
    path: snapPath,
    base,
    readOnly,
    comment: `Shadow copy of ${base.name} taken 2026-11-26T08:00:0${i % 10}Z`,
  };
}

beforeAll(async () => {
  await requireTools(['net', 'testparm', 'sharesec', 'smbcontrol', 'tdbdump'], false);
  dir = await mkdtemp(join(tmpdir(), 'fsrvp-shares-it-'));
  await makePrivateDirs(dir, ['share', 'snap']);
  Object.assign(data, { path: join(dir, 'share') });
  snapPath = join(dir, 'snap');
  conf = join(dir, 'smb.conf');
  await writeFile(conf, [
    ...privateGlobal(dir),
    '[Data]',
    `  path = ${join(dir, 'share')}`,
    '  read only = no',
    '  comment = Department data',
    '  valid users = root @staff',
    '  write list = @writers',
    '  vfs objects = shadow_copy2',
    '  shadow: snapdir = .',
    '  hide files = /@GMT-*/',
    '[Backup$]',
    `  path = ${join(dir, 'share')}`,
    '  fsrvp:backend = copy',
    '',
  ].join('\n'));
  await sharesec('Data', `--setsddl=${ACL}`);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('Samba registry publisher against a private smb.conf', () => {
  const pub = (): SambaRegistryPublisher => new SambaRegistryPublisher({ configFile: conf });

  it('clones the base share into a read-only registry share with the snapshot path and the base ACL', async () => {
    const req = request(1, true);
    await pub().publish(req);
    const s = await showshare(req.name);
    expect(s.name).toBe(req.name);
    expect(getParam(s, 'path')).toBe(snapPath);
    expect(getParam(s, 'read only')).toBe('yes');
    expect(getParam(s, 'comment')).toBe(req.comment);
    expect(getParam(s, 'valid users')).toBe('root @staff');
    expect(getParam(s, 'vfs objects')).toBe('shadow_copy2');
    expect(getParam(s, 'hide files')).toBe('/@GMT-*/');
    expect(getParam(s, 'write list')).toBeUndefined();
    expect(await sharesec(req.name, '--viewsddl')).toBe(await sharesec('Data', '--viewsddl'));
    expect(await sharesec(req.name, '--viewsddl')).toBe(ACL);
    expect(await hasStoredSd(req.name)).toBe(true);
    expect(await pub().list()).toContain(req.name);
    const registry = new SambaShareRegistry({ configFile: conf, cacheMs: 0 });
    expect(await registry.lookup(req.name.toUpperCase())).toEqual({ name: req.name, path: snapPath });
    expect(await registry.lookup('data')).toMatchObject({ name: 'Data' });
    expect(await registry.lookup('BACKUP$')).toEqual({ name: 'Backup$', path: join(dir, 'share'), backend: 'copy' });
    const registryOnly = new SambaShareRegistry({ configFile: conf, source: 'net-conf' });
    expect(await registryOnly.lookup(req.name)).toEqual({ name: req.name, path: snapPath });
    expect(await registryOnly.lookup('Data')).toBeUndefined();
  });

  it('publishes writable clones and flips them read-only', async () => {
    const req = request(2, false);
    const p = new SambaRegistryPublisher({ configFile: conf, reload: true });
    await p.publish(req);
    expect(getParam(await showshare(req.name), 'read only')).toBe('no');
    expect(getParam(await showshare(req.name), 'write list')).toBe('@writers');
    await p.setReadOnly(req.name);
    await p.setReadOnly(req.name);
    const s = await showshare(req.name);
    expect(getParam(s, 'read only')).toBe('yes');
    expect(getParam(s, 'write list')).toBeUndefined();
    expect(p.lastReloadError).toMatch(/smbcontrol .*reload-config/); // no smbd runs here; tolerated and recorded
  });

  it('unpublishes the share and its stored security descriptor; a missing share is fine', async () => {
    const req = request(3, true);
    const p = pub();
    await p.publish(req);
    expect(await hasStoredSd(req.name)).toBe(true);
    await p.unpublish(req.name);
    await p.unpublish(req.name);
    expect(await p.list()).not.toContain(req.name);
    expect(await p.show(req.name)).toBeUndefined();
    expect(await hasStoredSd(req.name)).toBe(false);
  });

  it('re-publishing a name replaces it; unpublishing a half-published name removes its stray descriptor', async () => {
    const req = request(9, false);
    await pub().publish(req);
    await pub().publish({ ...req, readOnly: true, comment: 'second' });
    const s = await showshare(req.name);
    expect([getParam(s, 'read only'), getParam(s, 'comment'), getParam(s, 'write list')]).toEqual(['yes', 'second', undefined]);
    await pub().unpublish(req.name);
    const stray = `Data@{${guid(10)}}`;
    await sharesec(stray, '--force', `--setsddl=${ACL}`);
    expect(await hasStoredSd(stray)).toBe(true);
    await pub().unpublish(stray);
    expect(await hasStoredSd(stray)).toBe(false);
  });

  it('stores no descriptor when the base has Samba\'s default; hidden shares keep their $', async () => {
    const backup: Share = { name: 'Backup$', path: join(dir, 'share') };
    const req = request(4, true, backup);
    expect(req.name).toBe(`Backup$@{${guid(4)}}$`);
    await pub().publish(req);
    expect(getParam(await showshare(req.name), 'path')).toBe(snapPath);
    expect(await hasStoredSd(req.name)).toBe(false);
    await pub().unpublish(req.name);
  });

  it('clones a base share that is itself a registry share', async () => {
    await net('conf', 'addshare', 'RegBase', join(dir, 'share'), 'writeable=y', 'guest_ok=n', 'registry base');
    await net('conf', 'setparm', 'RegBase', 'browseable', 'no');
    const base: Share = { name: 'RegBase', path: join(dir, 'share') };
    const req = request(5, true, base);
    await pub().publish(req);
    const s = await showshare(req.name);
    expect(getParam(s, 'browseable')).toBe('No');
    expect(getParam(s, 'read only')).toBe('yes');
    await pub().unpublish(req.name);
  });

  it('the setparm strategy yields the same definition as import', async () => {
    const a = request(6, true);
    const b = request(7, true);
    await new SambaRegistryPublisher({ configFile: conf, strategy: 'import' }).publish(a);
    await new SambaRegistryPublisher({ configFile: conf, strategy: 'setparm' }).publish({ ...b, comment: a.comment });
    const norm = (s: Awaited<ReturnType<typeof showshare>>): string[] =>
      s.params.map(([k, v]) => `${k.toLowerCase().replace(/\s/g, '')}=${v.toLowerCase()}`).filter((x) => !x.startsWith('guestok')).sort();
    expect(norm(await showshare(b.name))).toEqual(norm(await showshare(a.name)));
    expect(await sharesec(b.name, '--viewsddl')).toBe(await sharesec(a.name, '--viewsddl'));
  });

  it('fails clearly for an unknown base share and leaves nothing behind', async () => {
    const req = request(8, true, { name: 'NoSuchShare', path: '/nowhere' });
    await expect(pub().publish(req)).rejects.toThrow(/NoSuchShare/);
    expect(await pub().list()).not.toContain(req.name);
  });
});
