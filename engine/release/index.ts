/** Public functions of engine/release: writing release directories and reading them back (see README.md). */
export { forEachSelected, selectedNodes, selectionSize, tableNotes, toCsv, toJsonStat, toSdmxCsv } from './formats.ts';
export { toXlsx, type WorkbookInfo, type XlsxTable } from './xlsx.ts';
export { toParquet } from './parquet.ts';
export type { Selection, TableMeta } from './formats.ts';
export { CONF_STATUS_LEGEND, OBS_STATUS_LEGEND } from './legend.ts';
export { MANIFEST_VERSION, publicManifest } from './manifest.ts';
export type { Guarantee, LinkedRelease, Manifest, ManifestTableEntry, ReleaseInternal } from './manifest.ts';
export { renderRelease, tableFiles, writeRelease, writeRendered } from './write.ts';
export type { ReleaseContent, RenderedRelease, SignOptions, WriteOptions } from './write.ts';
export {
  canonicalPayload,
  POLICY_FILE,
  SIGNATURE_FILE,
  verifyReleaseSignature,
  type ReleaseSignature,
  type SignedPayload,
  type Signer,
} from './signature.ts';
export { parseRelease, readReleaseDir, readReleaseFiles } from './read.ts';
export type { ReadOptions, VerifiedCells, VerifiedRelease, VerifiedTable } from './read.ts';
export { checkManifest } from './read-manifest.ts';
export { ReleaseInvalid } from './read-check.ts';
export type { ReleaseInvalidInfo, ReleaseInvalidReason } from './read-check.ts';
export { dimensionFromJsonStat, dimensionFromTree } from './jsonstat-dimension.ts';
export type { TreeNode } from './jsonstat-dimension.ts';
