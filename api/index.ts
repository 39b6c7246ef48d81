export { build, type BuildOptions } from './app.ts';
export { serve, storeOptionsFromEnv } from './server.ts';
export { start, publishDirs, type StartOptions, type Started } from './start.ts';
export { ApiError, ERRORS, type ApiErrorCode } from './errors.ts';
export { DEFAULT_CONFIG, type ApiConfig } from './config.ts';
export * from './store/index.ts';
