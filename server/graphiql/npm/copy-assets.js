// Copies the browser builds server/graphiql embeds from the pinned packages
// in node_modules (npm ci first; `make graphiql-assets` does both) into
// ../assets, with the licences they ship. The source-map comment is dropped:
// the map is not served, and a browser's developer tools would ask for it.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const here = import.meta.dirname;
const out = join(here, '..', 'assets');
const files = [
  ['graphiql', 'graphiql.min.js'],
  ['graphiql', 'graphiql.min.css'],
  ['react', 'umd/react.production.min.js'],
  ['react-dom', 'umd/react-dom.production.min.js'],
];

await mkdir(out, { recursive: true });
const licences = [];
for (const pkg of [...new Set(files.map(([p]) => p))]) {
  const dir = join(here, 'node_modules', pkg);
  const { version } = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  licences.push(`${pkg}@${version}\n\n${(await readFile(join(dir, 'LICENSE'), 'utf8')).trim()}\n`);
}
for (const [pkg, file] of files) {
  const text = await readFile(join(here, 'node_modules', pkg, file), 'utf8');
  await writeFile(join(out, file.split('/').pop()), text.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '\n'));
}
await writeFile(join(out, 'THIRD_PARTY_LICENSES.txt'), licences.join('\n' + '-'.repeat(72) + '\n\n'));
