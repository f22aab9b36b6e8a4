/** The errno code a promise rejects with (undefined if it resolves). */
export async function errno(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code;
  }
}
