#!/usr/bin/env node
// `tap build` only when it has something to do (npm test runs this before tap). tap's Test class is built for a set
// of plugins; a fresh install has the default set, whose TypeScript plugin's module hook fails on hyparquet-writer's
// imports, so the configured set (package.json and .taprc-bundle name the same one) must be built before the first
// run. `tap build` rebuilds even when the built set is the configured one (about 10 s of CPU on every npm test), so
// this compares the two signatures tap itself compares (@tapjs/config's pluginSignature, @tapjs/test's signature) and
// builds only when they differ, or when either cannot be read.
import { spawnSync } from 'node:child_process';

async function builtForConfig() {
  try {
    const { TapConfig } = await import('@tapjs/config');
    const { signature } = await import('@tapjs/test');
    return (await TapConfig.load()).pluginSignature === signature;
  } catch {
    return false;
  }
}

if (!(await builtForConfig())) {
  const r = spawnSync('npx', ['tap', 'build'], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
