#!/usr/bin/env node
// Prints the failures of a tap run from its saved TAP output (.ci/run calls it when the tests fail): every `not ok`
// line with the chain of subtests above it (the test file first) and its YAML diagnostics. A long run reports a
// failure where it happened, far from the end of the output; this puts it at the end, where a CI log is read.
import { readFileSync } from 'node:fs';

const MAX_LINES = 400;
const lines = readFileSync(process.argv[2] ?? 0, 'utf8').split('\n');
const indentOf = (l) => l.length - l.trimStart().length;
/** The open subtests: indentation of their children's lines and their names. */
const stack = [];
const out = [];
for (let i = 0; i < lines.length; i++) {
  const line = lines[i];
  const sub = /^(\s*)# Subtest: (.*)$/.exec(line);
  if (sub) {
    const depth = sub[1].length;
    while (stack.length && stack[stack.length - 1].depth >= depth) stack.pop();
    stack.push({ depth, name: sub[2] });
    continue;
  }
  const fail = /^(\s*)not ok \d+/.exec(line);
  if (!fail) continue;
  const depth = fail[1].length;
  // The subtests that enclose this line: those opened at a smaller indentation.
  const path = stack.filter((s) => s.depth < depth).map((s) => s.name);
  out.push(`${path.join(' > ') || '(top level)'}`, line);
  // An assertion's diagnostics: an indented YAML block from `---` to `...` (a failed subtest, whose line ends with its
  // time, only repeats where it was declared).
  if (lines[i + 1]?.trim() === '---' && !/# time=/.test(line)) {
    for (let j = i + 1; j < lines.length; j++) {
      out.push(lines[j]);
      if (lines[j].trim() === '...' && indentOf(lines[j]) > depth) break;
    }
  }
  out.push('');
}
if (out.length === 0) console.log('(no `not ok` line in the output: the runner itself failed; see its output above)');
else {
  console.log(out.slice(0, MAX_LINES).join('\n'));
  if (out.length > MAX_LINES) console.log(`(${out.length - MAX_LINES} more lines in the full output above)`);
}
