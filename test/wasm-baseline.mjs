// Preloaded (NODE_OPTIONS --import) into the processes a test starts, by test/secure-env.ts: their WebAssembly runs on
// V8's baseline compiler only (see there why). Plain JavaScript so that a child loads it without a build. Not a test file.
import v8 from 'node:v8';

v8.setFlagsFromString('--liftoff-only');
