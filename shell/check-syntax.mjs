// Syntax-checks PowerShell scripts with the PowerShell grammar from npm (tree-sitter-powershell,
// run by web-tree-sitter: PowerShell itself cannot run on these machines). Prints every ERROR or
// MISSING node with its line and column, and exits 1 if there is one.
//
//   node shell/check-syntax.mjs NODE_MODULES_DIR FILE.ps1 [FILE.ps1 ...]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const [modules, ...files] = process.argv.slice(2);
if (!modules || files.length === 0) {
  console.error('usage: node shell/check-syntax.mjs NODE_MODULES_DIR FILE.ps1 [...]');
  process.exit(2);
}
const require = createRequire(join(modules, 'noop.js'));
const { Parser, Language } = require('web-tree-sitter');
await Parser.init();
const powershell = await Language.load(join(modules, 'tree-sitter-powershell', 'tree-sitter-powershell.wasm'));
const parser = new Parser();
parser.setLanguage(powershell);

let problems = 0;
for (const file of files) {
  const tree = parser.parse(readFileSync(file, 'utf8'));
  const walk = (node) => {
    if (node.isError || node.isMissing) {
      problems += 1;
      const { row, column } = node.startPosition;
      const what = node.isMissing ? `missing ${node.type}` : 'syntax error';
      console.error(`${file}:${row + 1}:${column + 1}: ${what} near: ${node.text.slice(0, 60).replace(/\s+/g, ' ')}`);
    }
    for (const child of node.children) walk(child);
  };
  walk(tree.rootNode);
  if (problems === 0) console.log(`${file}: the PowerShell grammar parses it without errors`);
}
process.exit(problems === 0 ? 0 : 1);
