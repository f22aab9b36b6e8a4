/**
 * smb.conf text: parsing what `testparm`/`net conf list` print (and hand-written files), and
 * rendering one share section for `net conf import`.
 */

export interface SmbConfSection {
  /** Section name as written (case preserved). */
  readonly name: string;
  /** Parameters in order, names as written. */
  readonly params: ReadonlyArray<readonly [string, string]>;
}

/** Samba compares parameter names without case and without spaces: "Read Only" = "readonly". */
export function normalizeParam(name: string): string {
  return name.toLowerCase().replace(/\s+/g, '');
}

/** Parses smb.conf text: `[section]` headers, `name = value` lines, `#`/`;` comments, `\` continuations. */
export function parseSmbConf(text: string): SmbConfSection[] {
  const sections: Array<{ name: string; params: Array<[string, string]> }> = [];
  let current: { name: string; params: Array<[string, string]> } | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i]!.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = { name: header[1]!.trim(), params: [] };
      sections.push(current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || !current) continue;
    current.params.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** The value of a parameter in a section (last one wins, like Samba), compared by normalised name. */
export function getParam(section: SmbConfSection, name: string): string | undefined {
  const want = normalizeParam(name);
  let value: string | undefined;
  for (const [k, v] of section.params) if (normalizeParam(k) === want) value = v;
  return value;
}

/** Samba booleans: yes/true/1/on and no/false/0/off, any case. */
export function parseBool(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (['yes', 'true', '1', 'on'].includes(v)) return true;
  if (['no', 'false', '0', 'off'].includes(v)) return false;
  return undefined;
}

/** Refuses text that would break out of a line or a section header of smb.conf. */
export function assertConfSafe(what: string, value: string, header = false): void {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) throw new TypeError(`${what} contains a control character: ${JSON.stringify(value)}`);
  if (header && /[[\]]/.test(value)) throw new TypeError(`${what} contains a bracket: ${JSON.stringify(value)}`);
  if (value.endsWith('\\')) throw new TypeError(`${what} ends with a backslash (a line continuation): ${JSON.stringify(value)}`);
}

/** Renders one section in smb.conf syntax. */
export function renderSection(section: SmbConfSection): string {
  assertConfSafe('share name', section.name, true);
  const out = [`[${section.name}]`];
  for (const [k, v] of section.params) {
    assertConfSafe(`parameter name ${k}`, k);
    if (k.includes('=')) throw new TypeError(`parameter name contains "=": ${k}`);
    assertConfSafe(`value of ${k}`, v);
    out.push(`\t${k} = ${v}`);
  }
  return out.join('\n') + '\n';
}
