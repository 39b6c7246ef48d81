/** Public functions of engine/secure: the secure zone's own state (see README.md). */
export { DEFAULT_SECURE_DIR, readOrCreateSecret, secureDir, securePath } from './state.ts';
export { appendDraw, drawLogPath, readDrawLog, type DrawCost, type DrawEntry, type DrawSpend } from './draw-log.ts';
export {
  generateSigningKey,
  keyIdOf,
  localSigningKey,
  publicKeyFromPem,
  SIGNING_KEY_FILE,
  signingKeyOf,
  type SigningKey,
} from './signing.ts';
export { writeInternalRecord } from './internal.ts';
