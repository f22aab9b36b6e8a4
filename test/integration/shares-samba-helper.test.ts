import { access, appendFile, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/sys/exec.js';
import { HelperError } from '../../src/sys/helper-process.js';
import { DEFAULT_PYTHON } from '../../src/sys/helpers/fsrvp-helper.js';
import { SambaRegistryPublisher } from '../../src/shares/samba.js';
import { RACY_MS } from '../../src/shares/samba-base-cache.js';
import { SmbConfHelper } from '../../src/shares/samba-helper.js';
import { getParam, parseSmbConf } from '../../src/shares/smbconf.js';
import type { PublishRequest, Share } from '../../src/shares/types.js';
import { requireTools } from '../../tools/lib/loopfs.js';
import { makePrivateDirs, privateGlobal, sambaTools } from '../helpers/smbconf.js';

const guid = (i: number): string => `dddddddd-0000-0000-0000-${String(i).padStart(12, '0')}`;
const ACL = 'D:(A;;0x001f01ff;;;BA)(A;;0x001200a9;;;WD)';
const ACL2 = 'D:(A;;0x001f01ff;;;SY)';

let dir: string;
let conf: string;
let include: string;
let snapPath: string;
let callLog: string;
const wrappers: Record<'testparm' | 'net' | 'sharesec' | 'smbcontrol', string> = { testparm: '', net: '', sharesec: '', smbcontrol: '' };
const data: Share = { name: 'Data', path: '' };
const closers: Array<{ close(): Promise<void> }> = [];

const { net, sharesec, hasStoredSd } = sambaTools(() => conf, () => dir);
async function showshare(name: string): Promise<ReturnType<typeof parseSmbConf>[number] | undefined> {
  try {
    return parseSmbConf(await net('conf', 'showshare', name))[0];
  } catch {
    return undefined;
  }
}
/** Tool invocations since the last call, as "tool args…" lines. */
async function toolCalls(): Promise<string[]> {
  const text = await readFile(callLog, 'utf8').catch(() => '');
  await writeFile(callLog, '');
  return text.split('\n').filter(Boolean);
}
/** Waits until file times set so far are old enough for the base-definition cache to trust them. */
function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, RACY_MS + 100));
}

function request(i: number, readOnly: boolean, base: Share = data): PublishRequest {
  return { name: `${base.name}@{${guid(i)}}`, path: snapPath, base, readOnly, comment: `Shadow copy ${i}` };
}

function publisher(extra: ConstructorParameters<typeof SambaRegistryPublisher>[0] = {}): SambaRegistryPublisher {
  const p = new SambaRegistryPublisher({
    configFile: conf, testparmCommand: wrappers.testparm, netCommand: wrappers.net, sharesecCommand: wrappers.sharesec,
    smbcontrolCommand: wrappers.smbcontrol, ...extra,
  });
  closers.push(p);
  return p;
}

beforeAll(async () => {
  await requireTools(['net', 'testparm', 'sharesec', 'smbcontrol', 'tdbdump'], false);
  await access(DEFAULT_PYTHON, fsc.X_OK).catch(() => {
    throw new Error(`integration prerequisites not met: ${DEFAULT_PYTHON} is missing (apt-get install python3-samba)`);
  });
  const probe = await run(DEFAULT_PYTHON, ['-I', '-c', 'import samba.samba3.smbconf, tdb']).catch((e: Error) => e);
  if (probe instanceof Error) throw new Error(`integration prerequisites not met: python3-samba is missing (apt-get install python3-samba): ${probe.message}`);
  dir = await mkdtemp(join(tmpdir(), 'fsrvp-shares-helper-it-'));
  await makePrivateDirs(dir, ['share', 'snap', 'bin']);
  Object.assign(data, { path: join(dir, 'share') });
  snapPath = join(dir, 'snap');
  conf = join(dir, 'smb.conf');
  include = join(dir, 'extra.conf');
  callLog = join(dir, 'calls.log');
  for (const tool of Object.keys(wrappers) as Array<keyof typeof wrappers>) {
    const file = join(dir, 'bin', tool);
    const body = tool === 'smbcontrol'
      ? `printf '%s\\n' "${tool} $*" >> '${callLog}'\n[ -e '${dir}/slow' ] && sleep 1\nexec ${tool} "$@"\n` // slow on demand
      : `printf '%s\\n' "${tool} $*" >> '${callLog}'\nexec ${tool} "$@"\n`;
    await writeFile(file, `#!/bin/sh\n${body}`);
    await chmod(file, 0o755);
    wrappers[tool] = file;
  }
  await writeFile(include, '[Extra]\n  path = /srv/extra\n  comment = included\n');
  await writeFile(conf, [
    ...privateGlobal(dir, [`  include = ${include}`]),
    '[Data]',
    `  path = ${join(dir, 'share')}`,
    '  read only = no',
    '  comment = Department data',
    '  write list = @writers',
    '  valid users = root @staff',
    '',
  ].join('\n'));
  await sharesec('Data', `--setsddl=${ACL}`);
  await settle();
});

afterAll(async () => {
  await Promise.all(closers.map((c) => c.close()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('smbconf helper against a private smb.conf', () => {
  it('uses the private configuration and edits registry shares the tools see', async () => {
    const h = new SmbConfHelper({ configFile: conf });
    closers.push(h);
    expect(await h.info()).toEqual({ configFile: conf, shareInfo: join(dir, 'state', 'share_info.tdb') });
    const name = `X@{${guid(1)}}`;
    expect(await h.shareCreate(name, [['path', '/srv/a'], ['read only', 'no'], ['write list', '@w']])).toEqual({ replaced: false });
    expect(getParam((await showshare(name))!, 'write list')).toBe('@w');
    expect(await h.shareCreate(name, [['path', '/srv/b'], ['comment', 'second']])).toEqual({ replaced: true });
    const s = (await showshare(name))!;
    expect([getParam(s, 'path'), getParam(s, 'comment'), getParam(s, 'write list')]).toEqual(['/srv/b', 'second', undefined]);
    expect(await h.shareList()).toContain(name);
    expect(await h.shareUpdate(name, [['read only', 'yes']], ['write list', 'browseable'])).toEqual({ exists: true });
    expect(getParam((await showshare(name))!, 'read only')).toBe('yes');
    expect(await h.shareUpdate(`Nope@{${guid(1)}}`, [['read only', 'yes']])).toEqual({ exists: false });
    expect(await showshare(`Nope@{${guid(1)}}`)).toBeUndefined();
    // changes made by the tools are seen at once by the running helper
    await net('conf', 'setparm', name, 'browseable', 'no');
    expect((await h.shareGet(name.toUpperCase()))?.params).toContainEqual(['browseable', 'no']);
    // descriptors: read like sharesec, deleted with the share
    expect(await h.sdGet('Data')).toBe(await sharesec('Data', '--viewsddl'));
    expect(await h.sdGet(name)).toBeUndefined();
    await sharesec(name, `--setsddl=${ACL2}`);
    expect(await h.sdGet(name)).toBe(ACL2);
    expect(await h.shareDelete(name)).toEqual({ existed: true, sdDeleted: true });
    expect(await hasStoredSd(name)).toBe(false);
    expect(await showshare(name)).toBeUndefined();
    expect(await h.shareDelete(name)).toEqual({ existed: false, sdDeleted: false });
    // errors: Samba's code names; names whose descriptor key Samba lower-cases its own way are refused
    const bad = await h.shareCreate(`Y@{${guid(1)}}`, [['no such parameter', 'x']]).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(HelperError);
    expect((bad as HelperError).code).toBe('SBC_ERR_INVALID_PARAM');
    expect(await showshare(`Y@{${guid(1)}}`)).toBeUndefined(); // the transaction was cancelled
    expect(((await h.sdGet('Dätä').catch((e: unknown) => e)) as HelperError).code).toBe('ENAME');
  });
});

describe('Samba registry publisher with the helper', () => {
  it('publishMany: several shares (two bases) in one registry transaction, base SD cloned; a failure leaves none', async () => {
    const p = publisher();
    const extra: Share = { name: 'Extra', path: '/srv/extra' };
    const reqs = [request(40, true), request(41, true, extra), request(42, false)];
    await toolCalls();
    await p.publishMany(reqs);
    for (const r of reqs) expect(getParam((await showshare(r.name))!, 'path')).toBe(snapPath);
    expect(getParam((await showshare(reqs[2]!.name))!, 'read only')).toBe('no');
    expect(await sharesec(reqs[0]!.name, '--viewsddl')).toBe(ACL);
    expect(await hasStoredSd(reqs[1]!.name)).toBe(false); // Extra has Samba's default
    const calls = await toolCalls();
    expect(calls.filter((c) => c.startsWith('net '))).toEqual([]); // the registry writes went through the helper
    expect(calls.filter((c) => c.startsWith('sharesec '))).toHaveLength(2); // the two clones of Data
    expect(p.lastHelperError).toBeUndefined();
    for (const r of reqs) await p.unpublish(r.name);
    // One request the tools refuse: nothing of the batch is left.
    const bad = [request(43, true), { ...request(44, true), comment: 'line\nbreak' }];
    await expect(p.publishMany(bad)).rejects.toThrow();
    expect(await showshare(bad[0]!.name)).toBeUndefined();
    expect(await p.list()).not.toContain(bad[0]!.name);
    // A base that does not exist: the whole batch fails, none published.
    const missing = [request(45, true), request(46, true, { name: 'NoSuchBase', path: '/nowhere' })];
    await expect(p.publishMany(missing)).rejects.toThrow(/NoSuchBase/);
    expect(await p.list()).not.toContain(missing[0]!.name);
  });

  it('publishes, flips and unpublishes without net/sharesec/smbcontrol for default-SD bases', async () => {
    const p = publisher();
    const req = request(2, false, { name: 'Extra', path: '/srv/extra' });
    await toolCalls();
    await p.publish(req);
    const s = (await showshare(req.name))!;
    expect([getParam(s, 'path'), getParam(s, 'read only'), getParam(s, 'comment')]).toEqual([snapPath, 'no', req.comment]);
    await p.setReadOnly(req.name);
    expect(getParam((await showshare(req.name))!, 'read only')).toBe('yes');
    expect(await p.list()).toContain(req.name);
    await p.unpublish(req.name);
    expect(await showshare(req.name)).toBeUndefined();
    expect(await p.list()).not.toContain(req.name);
    await p.idle();
    expect(p.lastHelperError).toBeUndefined();
    expect(p.lastReloadError).toMatch(/close-share .*smbd is not running/); // no smbd here (samba-helper.test.ts has one)
    const calls = await toolCalls();
    expect(calls.filter((c) => !c.startsWith('testparm '))).toEqual([]);
    expect(calls).toHaveLength(1);
  });

  it('clones the base SD read fresh at each publish (sharesec only to set a non-default one)', async () => {
    const p = publisher();
    const a = request(3, true);
    await p.publish(a);
    expect(await sharesec(a.name, '--viewsddl')).toBe(ACL);
    await sharesec('Data', `--setsddl=${ACL2}`);
    const b = request(4, true);
    await toolCalls();
    await p.publish(b);
    expect(await sharesec(b.name, '--viewsddl')).toBe(ACL2);
    const calls = await toolCalls();
    expect(calls.filter((c) => c.startsWith('sharesec '))).toEqual([`sharesec -s ${conf} ${b.name} --force --setsddl=${ACL2}`]);
    expect(calls.filter((c) => c.startsWith('testparm '))).toEqual([]); // cached
    await p.unpublish(a.name);
    await p.unpublish(b.name);
    expect([await hasStoredSd(a.name), await hasStoredSd(b.name)]).toEqual([false, false]);
    await sharesec('Data', `--setsddl=${ACL}`);
  });

  it('re-runs testparm when smb.conf, an included file or the registry base changes', async () => {
    const p = publisher();
    const publishAndGet = async (i: number, base: Share): Promise<ReturnType<typeof parseSmbConf>[number]> => {
      const r = request(i, true, base);
      await p.publish(r);
      const s = (await showshare(r.name))!;
      await p.unpublish(r.name);
      return s;
    };
    await publishAndGet(10, data);
    await toolCalls();
    await publishAndGet(11, data);
    expect((await toolCalls()).filter((c) => c.startsWith('testparm '))).toEqual([]);

    await appendFile(conf, '  browseable = no\n'); // inside [Data], the last section
    const s1 = await publishAndGet(12, data);
    expect(getParam(s1, 'browseable')).toBe('No');
    expect((await toolCalls()).filter((c) => c.startsWith('testparm '))).toHaveLength(1);

    const extra: Share = { name: 'Extra', path: '/srv/extra' };
    await publishAndGet(13, extra);
    await writeFile(include, '[Extra]\n  path = /srv/extra\n  comment = included\n  valid users = alice\n');
    await toolCalls();
    expect(getParam(await publishAndGet(14, extra), 'valid users')).toBe('alice');
    expect((await toolCalls()).filter((c) => c.startsWith('testparm '))).toHaveLength(1);

    await net('conf', 'addshare', 'RegBase', join(dir, 'share'), 'writeable=y', 'guest_ok=n', 'registry base');
    const reg: Share = { name: 'RegBase', path: join(dir, 'share') };
    await publishAndGet(15, reg);
    await net('conf', 'setparm', 'RegBase', 'valid users', 'bob');
    await toolCalls();
    expect(getParam(await publishAndGet(16, reg), 'valid users')).toBe('bob');
    expect((await toolCalls()).filter((c) => c.startsWith('testparm '))).toHaveLength(1);
    await net('conf', 'delshare', 'RegBase');
  });

  it('does not trust file times changed within the last seconds', async () => {
    const p = publisher();
    await appendFile(conf, '  # touched\n'); // mtime = now
    await toolCalls();
    for (const i of [20, 21]) {
      await p.publish(request(i, true));
      await p.unpublish(request(i, true).name);
    }
    expect((await toolCalls()).filter((c) => c.startsWith('testparm '))).toHaveLength(2);
  });

  it('falls back to the tools when the helper cannot run; smbcontrol close-share runs after unpublish returns', async () => {
    const p = publisher({ python: '/nonexistent/python3' });
    const req = request(30, false);
    await toolCalls();
    await p.publish(req);
    await p.setReadOnly(req.name);
    const s = (await showshare(req.name))!;
    expect([getParam(s, 'read only'), getParam(s, 'write list')]).toEqual(['yes', undefined]);
    expect(await sharesec(req.name, '--viewsddl')).toBe(ACL);
    expect(await p.list()).toContain(req.name);
    await writeFile(join(dir, 'slow'), ''); // smbcontrol takes a second: it must not delay unpublish
    const started = Date.now();
    await p.unpublish(req.name);
    expect(Date.now() - started).toBeLessThan(800);
    expect(await showshare(req.name)).toBeUndefined();
    expect(await hasStoredSd(req.name)).toBe(false);
    await p.idle();
    expect(Date.now() - started).toBeGreaterThan(1000);
    await rm(join(dir, 'slow'));
    expect(p.lastHelperError).toMatch(/not available: cannot start \/nonexistent\/python3/);
    const calls = await toolCalls();
    for (const t of ['testparm ', 'sharesec ', 'net ']) expect(calls.some((c) => c.startsWith(t))).toBe(true);
    expect(calls.filter((c) => c.startsWith('smbcontrol '))).toEqual([`smbcontrol -s ${conf} smbd close-share ${req.name}`]);
    expect(calls.some((c) => c.includes('conf import'))).toBe(true);
    expect(calls.some((c) => c.includes('conf delshare'))).toBe(true);
  });
});
