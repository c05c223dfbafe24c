// Trunk's post-build hook, before precompress.mjs (Trunk.toml): splits the front end's wasm per
// route, so the first load carries the sign-in page and what every page shares, and each other
// page's code comes when it is first visited (Leptos' `#[lazy_route]`, app/src/routes.rs).
//
// Trunk has no split step (trunk-rs/trunk#1022), so this does what cargo-leptos does, on the
// module cargo built (rustc's output, whose relocations the splitter needs: `--emit-relocs` in
// .cargo/config.toml): wasm-split-cli (crate wasm_split_cli_support), then wasm-bindgen and, in
// release builds, binaryen's -Oz on every piece. Trunk's own JS and wasm are replaced: every file
// is named with the hash of all of them (cached for a year like the rest), and index.html loads
// them with new integrity hashes. Tools come from PATH (scripts/setup.sh).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const staging = process.env.TRUNK_STAGING_DIR ?? process.argv[2];
if (!staging) {
  console.error('split: no folder (TRUNK_STAGING_DIR is unset and no argument given)');
  process.exit(1);
}
const release = (process.env.TRUNK_PROFILE ?? 'release') === 'release';
const run = (tool, args) => execFileSync(tool, args, { stdio: ['ignore', 'inherit', 'inherit'] });

// What Trunk wrote: deprov-app-<hash>.js and deprov-app-<hash>_bg.wasm.
const trunkScript = readdirSync(staging).find((name) => /^deprov-app-[0-9a-f]+\.js$/.test(name));
if (!trunkScript) {
  console.error(`split: no deprov-app-<hash>.js in ${staging}`);
  process.exit(1);
}
const trunkStem = trunkScript.slice(0, -'.js'.length);

// The module cargo built: release builds use the wasm-release profile (app/index.html).
const { target_directory: target } = JSON.parse(
  execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps', '--offline'], { encoding: 'utf8' }),
);
const built = join(target, 'wasm32-unknown-unknown', release ? 'wasm-release' : 'debug', 'deprov-app.wasm');
try {
  statSync(built);
} catch {
  console.error(`split: cargo's ${built} is missing`);
  process.exit(1);
}

// wasm-opt -Oz, as binaryen's library in this process: a hundred-odd pieces, most of a few
// hundred bytes, where starting wasm-opt (half a second: binaryen from npm runs in Node) would
// cost more than optimizing. Found beside the wasm-opt on PATH (scripts/setup.sh installs it).
const binaryen = release ? await loadBinaryen() : null;

async function loadBinaryen() {
  let wasmOpt;
  try {
    wasmOpt = realpathSync(execFileSync('sh', ['-c', 'command -v wasm-opt'], { encoding: 'utf8' }).trim());
  } catch {
    console.error('split: no wasm-opt on PATH (scripts/setup.sh installs binaryen from npm)');
    process.exit(1);
  }
  const { default: library } = await import(pathToFileURL(join(dirname(wasmOpt), '..', 'index.js')));
  library.setOptimizeLevel(2); // -Oz: -O2 with the most shrinking
  library.setShrinkLevel(2);
  return library;
}

function optimized(bytes) {
  const module = binaryen.readBinary(withoutCustomSections(bytes));
  // What the wasm uses (Trunk's own wasm-opt is off: app/index.html).
  const { Features } = binaryen;
  module.setFeatures(
    Features.BulkMemory | Features.BulkMemoryOpt | Features.NontrappingFPToInt | Features.SignExt |
      Features.ReferenceTypes | Features.Multivalue | Features.MutableGlobals,
  );
  module.optimize();
  if (!module.validate()) throw new Error('split: binaryen made an invalid module');
  const out = module.emitBinary();
  module.dispose();
  return out;
}

// The module without its custom sections (names, producers): nothing runs on them, and binaryen
// warns about each chunk's name section. A module that does not parse stops the build.
function withoutCustomSections(bytes) {
  const malformed = (why) => new Error(`split: a wasm piece is malformed (${why})`);
  if (bytes.length < 8 || bytes.readUInt32LE(0) !== 0x6d736100) throw malformed('no \0asm header');
  const kept = [bytes.subarray(0, 8)];
  for (let at = 8; at < bytes.length; ) {
    const id = bytes[at];
    let size = 0;
    let next = at + 1;
    for (let shift = 0; ; shift += 7) {
      if (next >= bytes.length || shift > 28) throw malformed(`a section size at byte ${at}`);
      const byte = bytes[next++];
      size |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    const end = next + (size >>> 0);
    if (end > bytes.length) throw malformed(`section ${id} at byte ${at} runs past the end`);
    if (id !== 0) kept.push(bytes.subarray(at, end));
    at = end;
  }
  return Buffer.concat(kept);
}

// `text` with every `from` replaced by `to`, which must occur: a tool that writes its output
// differently must stop the build, not ship a page that cannot load.
function replaced(text, from, to, what) {
  const parts = text.split(from);
  if (parts.length < 2) throw new Error(`split: ${what}: no ${JSON.stringify(from)} to rewrite`);
  return parts.join(to);
}

// The tools write under this name; the files are named once their hash is known.
const PENDING = 'deprov-app-pending';
const work = mkdtempSync(join(tmpdir(), 'deprov-split-'));
const pieces = new Map(); // name as the tools wrote it -> bytes, optimized in release builds
let script;
let loader;
try {
  run('wasm-split-cli', ['--target', 'web', '--out-name', PENDING, built, work]);
  // The main module, bound as Trunk binds it (plus what the loader needs kept).
  run('wasm-bindgen', [
    '--target', 'web', '--no-typescript', '--keep-lld-exports', '--no-demangle',
    '--out-dir', join(work, 'bound'), '--out-name', PENDING, join(work, `${PENDING}.wasm`),
  ]);
  const main = `${PENDING}_bg.wasm`;
  const names = [main, ...readdirSync(work).filter((name) => /^(split|chunk)_.*\.wasm$/.test(name))];
  for (const name of names) {
    const bytes = readFileSync(join(work, name === main ? 'bound' : '', name));
    pieces.set(name, release ? optimized(bytes) : bytes);
  }
  script = readFileSync(join(work, 'bound', `${PENDING}.js`), 'utf8');
  loader = readFileSync(join(work, '__wasm_split.js'), 'utf8');
} finally {
  rmSync(work, { recursive: true, force: true });
}

// The build's hash, of everything it serves and of this script (which rewrites it): a new
// splitter, optimizer or rewrite renames every file too, so a browser never mixes a cached piece
// with a new one (they are cached for a year).
const digest = createHash('sha256').update(readFileSync(fileURLToPath(import.meta.url)));
for (const [name, bytes] of [...pieces].sort(([a], [b]) => a.localeCompare(b))) {
  digest.update(name).update(bytes);
}
const hash = digest.update(script).update(loader).digest('hex').slice(0, 16);
const stem = `deprov-app-${hash}`;
const named = (name) =>
  name.startsWith(PENDING) ? name.replace(PENDING, stem) : name.replace(/\.(wasm|js)$/, `-${hash}.$1`);

// The loader fetches each chunk by name, and binds to the main module's script.
for (const name of pieces.keys()) {
  if (!name.startsWith(PENDING)) loader = replaced(loader, `"./${name}"`, `"./${named(name)}"`, 'the loader');
}
loader = replaced(loader, `"./${PENDING}.js"`, `"./${stem}.js"`, 'the loader');
// Only the import: the same name keys the wasm's imports, which keep it.
script = replaced(script, 'from "./__wasm_split.js"', `from "./${named('__wasm_split.js')}"`, 'the main script');
script = replaced(script, `'${PENDING}_bg.wasm'`, `'${stem}_bg.wasm'`, 'the main script');
for (const [name, bytes] of pieces) writeFileSync(join(staging, named(name)), bytes);
writeFileSync(join(staging, named('__wasm_split.js')), loader);
writeFileSync(join(staging, `${stem}.js`), script);
// What Trunk built, replaced.
rmSync(join(staging, `${trunkStem}.js`));
rmSync(join(staging, `${trunkStem}_bg.wasm`));

// index.html loads Trunk's files, pinned by hash (subresource integrity): the new ones instead.
const html = join(staging, 'index.html');
const integrity = (name) =>
  `sha384-${createHash('sha384').update(readFileSync(join(staging, name))).digest('base64')}`;
let page = replaced(readFileSync(html, 'utf8'), trunkStem, stem, 'index.html');
for (const name of [`${stem}.js`, `${stem}_bg.wasm`]) {
  const pinned = new RegExp(`(href="/${name.replaceAll('.', '\\.')}"[^>]*integrity=")sha384-[^"]+"`);
  if (!pinned.test(page)) {
    console.error(`split: index.html does not pin ${name} as expected`);
    process.exit(1);
  }
  page = page.replace(pinned, `$1${integrity(name)}"`);
}
writeFileSync(html, page);
