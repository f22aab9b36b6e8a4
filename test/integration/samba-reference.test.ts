/**
 * The same harness with Samba's OWN rpcd_fsrvp (no external socket dir): proves the harness is
 * right independently of our agent, and is the reference for comparisons (SAMBA.md §7: every
 * smbtorture subtest passes alone; the suite in one run loses some to same-second snapshot name
 * collisions, trap 5).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FSRVP_SUBTESTS, parseExposed, SambaHarness } from '../../tools/lib/samba-harness.js';

async function withSamba<T>(fn: (h: SambaHarness) => Promise<T>): Promise<T> {
  const h = await SambaHarness.start({ mode: 'samba' });
  try {
    return await fn(h);
  } finally {
    await h.stop();
  }
}

describe("reference: Samba's own rpcd_fsrvp in the harness", () => {
  it('rpcclient: version, path support, create+expose, content, mapping, recovery, delete', async () => {
    await withSamba(async (h) => {
      const v = await h.rpcclient(['fss_get_sup_version', 'fss_is_path_sup fsrvp_share']);
      expect(v.stdout, `rc ${v.code}: ${v.stderr}`).toContain('supports FSRVP versions from 1 to 1');
      expect(v.stdout).toContain('supports shadow copy requests');
      await h.writeShareFile('testfss.dat', 'pre-snap');
      const c = await h.rpcclient('fss_create_expose backup ro fsrvp_share');
      const e = parseExposed(c.stdout);
      expect(e, c.stdout + c.stderr).toBeDefined();
      await h.writeShareFile('testfss.dat', 'post-snap');
      expect(await h.listShares()).toContain(e!.share);
      const local = join(h.root, 'got.dat');
      const get = await h.smbclient(e!.share, `get testfss.dat ${local}`);
      expect(get.code, get.stdout + get.stderr).toBe(0);
      expect(await readFile(local, 'utf8')).toBe('pre-snap');
      await writeFile(join(h.root, 'up.dat'), 'x');
      const put = await h.smbclient(e!.share, `put ${join(h.root, 'up.dat')} new.dat`);
      expect(put.stdout + put.stderr).toMatch(/NT_STATUS_(ACCESS_DENIED|MEDIA_WRITE_PROTECTED)/);
      const m = await h.rpcclient(`fss_get_mapping fsrvp_share ${e!.setId} ${e!.copyId}`);
      expect(m.stdout).toContain(`share ${e!.share} is a shadow-copy of`);
      const rc = await h.rpcclient(`fss_recovery_complete ${e!.setId}`);
      expect(rc.stdout).toContain('marked recovery complete');
      const d = await h.rpcclient(`fss_delete fsrvp_share ${e!.setId} ${e!.copyId}`);
      expect(d.stdout).toContain('shadow-copy deleted');
      expect(await h.registryShares()).toEqual([]);
      // Samba 4.17 does not implement IsPathShadowCopied.
      const has = await h.rpcclient('fss_has_shadow_copy fsrvp_share');
      expect(has.stdout + has.stderr).toMatch(/0x8004230c/);
    });
  });

  for (const name of FSRVP_SUBTESTS) {
    it(`smbtorture ${name} alone on a fresh setup`, async () => {
      const r = await withSamba((h) => h.smbtorture(`rpc.fsrvp.fsrvp.${name}`));
      expect(r.failed, r.stdout).toEqual([]);
      expect(r.passed).toEqual([`fsrvp.${name}`]);
    });
  }

  it('smbtorture: the whole suite in one run (Samba loses some to trap 5)', async () => {
    const r = await withSamba((h) => h.smbtorture('rpc.fsrvp'));
    expect(r.passed.length + r.failed.length, r.stdout).toBe(FSRVP_SUBTESTS.length);
    expect(r.passed.length).toBeGreaterThanOrEqual(6);
    for (const t of ['set_ctx', 'get_version', 'is_path_supported', 'sc_set_abort']) expect(r.passed).toContain(`fsrvp.${t}`);
  });
});
