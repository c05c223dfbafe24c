// Trunk's post-build hook, before precompress.mjs (Trunk.toml): splits the front end's wasm per
// route, so the first load carries the sign-in page and what every page shares, and each other
// page's code comes when it is first visited (Leptos' `#[lazy_route]`, app/src/routes.rs).
//
// Trunk has no split step (trunk-rs/trunk#1022), so this does what cargo-leptos does, on the
// module cargo built (rustc's output, whose relocations the splitter needs: `--emit-relocs` in
// .cargo/config.toml): wasm-split-cli (crate wasm_split_cli_support), then wasm-bindgen and, in
// release builds, binaryen's -Oz on every piece. Trunk's own JS and wasm are replaced under the same
// hashed names; the new files carry that hash too (cached for a year like the rest), and
// index.html's integrity hashes are recomputed. Tools come from PATH (scripts/setup.sh).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const staging = process.env.TRUNK_STAGING_DIR ?? process.argv[2];
if (!staging) {
  console.error('split: no folder (TRUNK_STAGING_DIR is unset and no argument given)');
  process.exit(1);
}
const release = (process.env.TRUNK_PROFILE ?? 'release') === 'release';
const run = (tool, args) => execFileSync(tool, args, { stdio: ['ignore', 'inherit', 'inherit'] });

// What Trunk wrote: deprov-app-<hash>.js and deprov-app-<hash>_bg.wasm.
const script = readdirSync(staging).find((name) => /^deprov-app-[0-9a-f]+\.js$/.test(name));
if (!script) {
  console.error(`split: no deprov-app-<hash>.js in ${staging}`);
  process.exit(1);
}
const stem = script.slice(0, -'.js'.length);
const hash = stem.slice('deprov-app-'.length);

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
  const out = module.emitBinary();
  module.dispose();
  return out;
}

// The module without its custom sections (names, producers): nothing runs on them, and binaryen
// warns about each chunk's name section.
function withoutCustomSections(bytes) {
  const kept = [bytes.subarray(0, 8)];
  for (let at = 8; at < bytes.length; ) {
    const id = bytes[at];
    let size = 0;
    let next = at + 1;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[next++];
      size |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    const end = next + (size >>> 0);
    if (id !== 0) kept.push(bytes.subarray(at, end));
    at = end;
  }
  return Buffer.concat(kept);
}

const work = mkdtempSync(join(tmpdir(), 'deprov-split-'));
try {
  run('wasm-split-cli', ['--target', 'web', '--out-name', stem, built, work]);
  // The main module, bound as Trunk binds it (plus what the loader needs kept).
  run('wasm-bindgen', [
    '--target', 'web', '--no-typescript', '--keep-lld-exports', '--no-demangle',
    '--out-dir', join(work, 'bound'), '--out-name', stem, join(work, `${stem}.wasm`),
  ]);
  // Route and shared chunks: chunk_3.wasm becomes chunk_3-<hash>.wasm.
  const hashed = (name) => name.replace(/\.(wasm|js)$/, `-${hash}.$1`);
  const pieces = [[join(work, 'bound', `${stem}_bg.wasm`), `${stem}_bg.wasm`]];
  for (const name of readdirSync(work)) {
    if (/^(split|chunk)_.*\.wasm$/.test(name)) pieces.push([join(work, name), hashed(name)]);
  }
  for (const [from, name] of pieces) {
    const to = join(staging, name);
    if (release) writeFileSync(to, optimized(readFileSync(from)));
    else renameSync(from, to);
  }
  const loader = hashed('__wasm_split.js');
  writeFileSync(
    join(staging, loader),
    readFileSync(join(work, '__wasm_split.js'), 'utf8').replace(
      /"\.\/((?:split|chunk)_[A-Za-z0-9_]+)\.wasm"/g,
      (_, name) => `"./${name}-${hash}.wasm"`,
    ),
  );
  writeFileSync(
    join(staging, script),
    readFileSync(join(work, 'bound', script), 'utf8').replaceAll(
      'from "./__wasm_split.js"',
      `from "./${loader}"`,
    ),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}

// Trunk's index.html pins the JS and wasm it wrote by hash (subresource integrity): pin the new.
const html = join(staging, 'index.html');
const integrity = (name) =>
  `sha384-${createHash('sha384').update(readFileSync(join(staging, name))).digest('base64')}`;
let page = readFileSync(html, 'utf8');
for (const name of [script, `${stem}_bg.wasm`]) {
  const pinned = new RegExp(`(href="/${name}"[^>]*integrity=")sha384-[^"]+"`);
  if (!pinned.test(page)) {
    console.error(`split: index.html does not pin ${name} as expected`);
    process.exit(1);
  }
  page = page.replace(pinned, `$1${integrity(name)}"`);
}
writeFileSync(html, page);
