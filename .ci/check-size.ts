/**
 * Size check run by `npm run check`: no function over MAX_FUNCTION_LINES lines and no source file over
 * MAX_FILE_LINES lines in engine/, api/ and cli/, so that every unit can be read in one sitting. The hot loops
 * named below are exempt: each is one class whose methods share per-row state on purpose (splitting them costs
 * throughput on the row path). Prints every violation with its place and exits 1 when there is one.
 */
import ts from 'typescript';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const MAX_FUNCTION_LINES = 150;
const MAX_FILE_LINES = 500;
const HOT_LOOPS = new Set(['TableAcc', 'ContributionBounder', 'RowConverter']);
const ROOTS = ['engine', 'api', 'cli'];

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

function isFunctionLike(n: ts.Node): n is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(n) ||
    ts.isMethodDeclaration(n) ||
    ts.isArrowFunction(n) ||
    ts.isFunctionExpression(n) ||
    ts.isConstructorDeclaration(n) ||
    ts.isGetAccessorDeclaration(n) ||
    ts.isSetAccessorDeclaration(n)
  );
}

function functionName(n: ts.FunctionLikeDeclaration): string {
  if (n.name) return n.name.getText();
  const p = n.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return p.name.getText();
  return '(anonymous)';
}

const problems: string[] = [];
for (const root of ROOTS) {
  for (const file of sourceFiles(root)) {
    const text = readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const lineOf = (pos: number): number => sf.getLineAndCharacterOfPosition(pos).line + 1;
    const fileLines = lineOf(text.length) - (text.endsWith('\n') ? 1 : 0);
    if (fileLines > MAX_FILE_LINES) problems.push(`${file}: ${fileLines} lines (at most ${MAX_FILE_LINES})`);
    const visit = (n: ts.Node): void => {
      if (ts.isClassDeclaration(n) && n.name && HOT_LOOPS.has(n.name.text)) return;
      if (isFunctionLike(n)) {
        const lines = lineOf(n.getEnd()) - lineOf(n.getStart()) + 1;
        if (lines > MAX_FUNCTION_LINES) {
          problems.push(
            `${file}:${lineOf(n.getStart())}: function ${functionName(n)} has ${lines} lines (at most ${MAX_FUNCTION_LINES})`,
          );
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
}
for (const p of problems) console.error(p);
if (problems.length > 0) process.exit(1);
console.log(
  `size check: no function over ${MAX_FUNCTION_LINES} lines, no file over ${MAX_FILE_LINES} lines in ${ROOTS.join(', ')}/`,
);
