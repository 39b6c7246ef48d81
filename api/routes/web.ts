/**
 * The web page at `/` (api/web/index.html) and its static files at
 * `/static/*` (app.js, app.css): plain HTML, one vanilla script, no build
 * step. The page only calls the API's own routes from the browser, so it sees
 * exactly what the caller's key may see; it embeds no data.
 *
 * Security headers on these responses: a strict Content-Security-Policy (no
 * inline script or style, same-origin requests only, no framing), nosniff and
 * no referrer. Static files are served from a fixed allow-list, never by a
 * path taken from the request.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { PluginOptions } from '../context.ts';
import { ApiError } from '../errors.ts';

const WEB_DIR = new URL('../web/', import.meta.url);

export const WEB_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const STATIC: Readonly<Record<string, string>> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

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
    const text = await readFile(new URL(name, WEB_DIR), 'utf8');
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
      const type = Object.hasOwn(STATIC, file) ? STATIC[file] : undefined;
      if (type === undefined) throw new ApiError('NOT_FOUND', `no static file ${JSON.stringify(file)}`);
      return secure(reply)
        .header('cache-control', 'no-cache')
        .type(type)
        .send(await load(file));
    },
  );
}
