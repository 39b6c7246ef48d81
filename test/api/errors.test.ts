import { readFile } from 'node:fs/promises';
import t from 'tap';
import { ERRORS } from '../../api/errors.ts';

t.test('every error code is documented in api/README.md with its status, and vice versa', async (t) => {
  const readme = await readFile(new URL('../../api/README.md', import.meta.url), 'utf8');
  const documented = new Map([...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]));
  for (const [code, e] of Object.entries(ERRORS))
    t.equal(documented.get(code), e.status, `${code} documented with status ${e.status}`);
  for (const code of documented.keys()) t.ok(code in ERRORS, `${code} in the README exists in api/errors.ts`);
  t.ok(documented.size >= 10);
});
