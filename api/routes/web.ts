/**
 * The web page at `/` (api/web/index.html) and its static files at
 * `/static/*`: plain HTML, a few vanilla scripts (util.js, chart.js,
 * catalogue.js, reviewer.js, contracts.js, builder.js, app.js) and app.css, no build step. Charts are
 * drawn by Observable Plot on d3; their browser bundles (UMD) are served from
 * the installed packages in node_modules as `/static/d3.min.js` and
 * `/static/plot.min.js` (no CDN: the page loads nothing from elsewhere). The
 * page only calls the API's own routes from the browser, so it sees exactly
 * what the caller's key may see; it embeds no data.
 *
 * Security headers on these responses: a strict Content-Security-Policy (no
 * inline script or style, same-origin requests only, no framing), nosniff and
 * no referrer. Static files are served from a fixed allow-list, never by a
 * path taken from the request.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { PluginOptions } from '../context.ts';
import { ApiError } from '../errors.ts';

const WEB_DIR = new URL('../web/', import.meta.url);

export const WEB_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const JS = 'text/javascript; charset=utf-8';

/** The page's own files (api/web/), by name. */
const STATIC: Readonly<Record<string, string>> = {
  'util.js': JS,
  'chart.js': JS,
  'catalogue.js': JS,
  'reviewer.js': JS,
  'contracts.js': JS,
  'builder.js': JS,
  'app.js': JS,
  'app.css': 'text/css; charset=utf-8',
};

/** Browser bundles of installed packages: served name -> [package, file inside the package]. */
const VENDOR: Readonly<Record<string, readonly [string, string]>> = {
  'd3.min.js': ['d3', 'dist/d3.min.js'],
  'plot.min.js': ['@observablehq/plot', 'dist/plot.umd.min.js'],
};

/**
 * A package's folder, found the way Node resolves it from here (its `exports` do not export the UMD files, so the
 * folder is looked up on the resolution paths rather than through `require.resolve` of a subpath).
 */
function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  for (const dir of require.resolve.paths(name) ?? []) {
    const candidate = path.join(dir, name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
  }
  throw new Error(`package ${name} is not installed`);
}

/** The file behind a static name (page file or vendor bundle), or undefined when the name is not served. */
function staticPath(name: string): string | undefined {
  if (Object.hasOwn(STATIC, name)) return fileURLToPath(new URL(name, WEB_DIR));
  if (Object.hasOwn(VENDOR, name)) {
    const [pkg, file] = VENDOR[name]!;
    return path.join(packageDir(pkg), file);
  }
  return undefined;
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', WEB_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}

export async function webRoutes(app: FastifyInstance, { ctx }: PluginOptions): Promise<void> {
  const cache = new Map<string, string>();
  const load = async (name: string): Promise<string> => {
    const hit = cache.get(name);
    if (hit !== undefined) return hit;
    const text = await readFile(staticPath(name) ?? fileURLToPath(new URL(name, WEB_DIR)), 'utf8');
    cache.set(name, text);
    return text;
  };

  app.get('/', { schema: { hide: true } }, async (_req, reply) => {
    const html = (await load('index.html')).replace(
      'data-zone="full"',
      `data-zone="${ctx.publicOnly ? 'public' : 'full'}"`,
    );
    return secure(reply).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(html);
  });

  app.get(
    '/static/:file',
    {
      schema: {
        hide: true,
        params: { type: 'object', required: ['file'], properties: { file: { type: 'string', maxLength: 50 } } },
      },
    },
    async (req, reply) => {
      const { file } = req.params as { file: string };
      const type = Object.hasOwn(STATIC, file) ? STATIC[file] : Object.hasOwn(VENDOR, file) ? JS : undefined;
      if (type === undefined) throw new ApiError('NOT_FOUND', `no static file ${JSON.stringify(file)}`);
      return secure(reply)
        .header('cache-control', 'no-cache')
        .type(type)
        .send(await load(file));
    },
  );
}
