import { createHash } from 'node:crypto';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { WARMUP_BUDGET_SECONDS } from '../../contracts/model-warmup';
import { MODEL_NAME, MODEL_VERSION } from '../../contracts/registry-schemas';
import { gzipDeterministic, packModelRepositoryTar } from '../../lib/model-archive';
import { parseJsonDocument, readInputFile, secondsOption, stringOption } from '../args';
import { type CommandContext, printJson, segment, write } from '../context';
import { CliError, UsageError } from '../errors';
import { UploadProgress } from '../progress';

interface ModelsPage {
  models: { name: string }[];
  nextToken?: string;
}

/** `models list`: every model, all pages. */
export async function listModels(ctx: CommandContext): Promise<number> {
  const models: ModelsPage['models'] = [];
  let nextToken: string | undefined;
  do {
    const page = await ctx.api().request<ModelsPage>('GET', '/v1/models', {
      query: { limit: 100, nextToken },
      retry: true,
    });
    models.push(...page.body.models);
    nextToken = page.body.nextToken;
  } while (nextToken);
  if (ctx.values.json) await printJson(ctx.io, models);
  else await write(ctx.io.stdout, models.map((m) => `${m.name}\n`).join(''));
  return 0;
}

/** `models get <name> [--version V]`. */
export async function getModel(ctx: CommandContext): Promise<number> {
  const version = stringOption(ctx.values, 'version');
  const path = `/v1/models/${segment(ctx.args.name!)}${version ? `/versions/${segment(version)}` : ''}`;
  await printJson(ctx.io, (await ctx.api().request('GET', path, { retry: true })).body);
  return 0;
}

/** `models register <name> --file version.json`: the body of `POST /v1/models`, named after the argument. */
export async function registerModel(ctx: CommandContext): Promise<number> {
  const file = stringOption(ctx.values, 'file');
  if (file === undefined) throw new UsageError('--file is required', 'models register');
  const source = file === '-' ? 'stdin' : file;
  const doc = parseJsonDocument(readInputFile(file), source);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new UsageError(`${source}: a model version is a JSON object`);
  }
  const name = ctx.args.name!;
  const named = (doc as { name?: unknown }).name;
  if (named !== undefined && named !== name) {
    throw new UsageError(`${source} names model '${String(named)}', not '${name}'`);
  }
  // Not retried: a repeated registration would answer 409 for the version the first one created.
  const response = await ctx.api().request<{ name: string; version: string }>('POST', '/v1/models', {
    body: { ...doc, name },
  });
  ctx.io.stderr.write(`registered ${response.body.name} version ${response.body.version}\n`);
  await printJson(ctx.io, response.body);
  return 0;
}

interface AliasRoute {
  version: string;
  weight: number;
}
interface ModelDocument {
  aliases: { alias: string; routes: AliasRoute[]; previousRoutes?: AliasRoute[] }[];
}

const DEFAULT_ALIAS = 'live';

const aliasPath = (model: string, alias: string) => `/v1/models/${segment(model)}/aliases/${segment(alias)}`;

async function readAlias(ctx: CommandContext, model: string, alias: string) {
  const { body } = await ctx
    .api()
    .request<ModelDocument>('GET', `/v1/models/${segment(model)}`, { retry: true });
  return body.aliases.find((a) => a.alias === alias);
}

/**
 * The routes after giving `version` `weight` % of an alias: the other versions keep their shares of
 * the rest in proportion (largest remainders get the odd percent), and one left with 0 % drops out.
 */
export function promotedRoutes(
  current: readonly AliasRoute[],
  version: string,
  weight: number,
): AliasRoute[] {
  if (weight === 100) return [{ version, weight }];
  const others = current.filter((r) => r.version !== version);
  const rest = 100 - weight;
  const total = others.reduce((sum, r) => sum + r.weight, 0);
  if (total === 0) return [];
  const exact = others.map((r) => (r.weight * rest) / total);
  const shares = exact.map(Math.floor);
  const byRemainder = exact
    .map((x, i) => ({ i, remainder: x - shares[i]! }))
    .sort((a, b) => b.remainder - a.remainder);
  for (let left = rest - shares.reduce((a, b) => a + b, 0), k = 0; left > 0; left--, k++) {
    shares[byRemainder[k]!.i]! += 1;
  }
  return [
    ...others.map((r, i) => ({ version: r.version, weight: shares[i]! })).filter((r) => r.weight > 0),
    { version, weight },
  ];
}

/** A version number as the registry takes it, or a usage error naming where it came from. */
function checkVersion(version: string, where: string, command: string): void {
  if (!MODEL_VERSION.test(version)) {
    throw new UsageError(`${where} must be a positive integer, got '${version}'`, command);
  }
}

/** `models promote <model> <version> [--weight N] [--alias A]`: moves all or a share of an alias. */
export async function promoteModel(ctx: CommandContext): Promise<number> {
  const { model, version } = ctx.args as { model: string; version: string };
  checkVersion(version, '<version>', 'models promote');
  const alias = stringOption(ctx.values, 'alias') ?? DEFAULT_ALIAS;
  const raw = stringOption(ctx.values, 'weight') ?? '100';
  const weight = Number(raw);
  if (!/^\d+$/.test(raw) || weight < 1 || weight > 100) {
    throw new UsageError(`--weight must be an integer from 1 to 100, got '${raw}'`, 'models promote');
  }
  const current = (await readAlias(ctx, model, alias))?.routes ?? [];
  const routes = promotedRoutes(current, version, weight);
  if (routes.length === 0) {
    throw new CliError(
      `alias '${alias}' of model '${model}' routes to no other version that could keep the other ${100 - weight} %; promote with --weight 100 first`,
    );
  }
  const { body } = await ctx.api().request('PUT', aliasPath(model, alias), { body: { routes }, retry: true });
  ctx.io.stderr.write(`${model} ${alias}: ${describeRoutes(routes)}\n`);
  await printJson(ctx.io, body);
  return 0;
}

/** `models rollback <model> [--alias A]`: restores the routes the alias had before its last move. */
export async function rollbackModel(ctx: CommandContext): Promise<number> {
  const model = ctx.args.model!;
  const alias = stringOption(ctx.values, 'alias') ?? DEFAULT_ALIAS;
  const found = await readAlias(ctx, model, alias);
  if (!found) throw new CliError(`model '${model}' has no alias '${alias}'`);
  if (!found.previousRoutes) {
    throw new CliError(
      `alias '${alias}' of model '${model}' has not moved since it was created; nothing to roll back to`,
    );
  }
  const routes = found.previousRoutes;
  const { body } = await ctx.api().request('PUT', aliasPath(model, alias), { body: { routes }, retry: true });
  ctx.io.stderr.write(`${model} ${alias}: back to ${describeRoutes(routes)}\n`);
  await printJson(ctx.io, body);
  return 0;
}

/** `models delete <model> <version>`: refused with 409 while an alias routes to the version. */
export async function deleteModelVersion(ctx: CommandContext): Promise<number> {
  const { model, version } = ctx.args as { model: string; version: string };
  checkVersion(version, '<version>', 'models delete');
  await ctx.api().request('DELETE', `/v1/models/${segment(model)}/versions/${segment(version)}`);
  ctx.io.stderr.write(`deleted ${model} version ${version}\n`);
  return 0;
}

const describeRoutes = (routes: readonly AliasRoute[]) =>
  routes.map((r) => `version ${r.version} ${r.weight} %`).join(', ');

type StartedUpload =
  | { archive: string; mode: 'stored' }
  | { archive: string; mode: 'single'; url: string; headers: Record<string, string> }
  | {
      archive: string;
      mode: 'multipart';
      uploadId: string;
      partSize: number;
      parts: { partNumber: number; url: string }[];
    };

/** The highest numeric version folder of a model folder: the one Triton serves by default. */
function highestVersion(dir: string): string | undefined {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^[1-9][0-9]*$/.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0))
    .at(-1);
}

/** `models push <model-dir> [--name N] [--version V] [--no-wait]`: pack, hash, upload, register, warm up. */
export async function pushModel(ctx: CommandContext): Promise<number> {
  const given = path.resolve(ctx.args.dir!);
  if (!existsSync(given) || !statSync(given).isDirectory()) {
    throw new UsageError(`${ctx.args.dir} is not a folder`, 'models push');
  }
  // A folder reached through a symbolic link is packed as the folder it links to.
  const dir = realpathSync(given);
  // Checked before anything is sent: a bad value found after the push would leave it half done.
  const timeoutMs = secondsOption(ctx.values, 'timeout') ?? (WARMUP_BUDGET_SECONDS + 60) * 1000;
  if (!existsSync(path.join(dir, 'config.pbtxt'))) {
    throw new UsageError(`${ctx.args.dir} has no config.pbtxt: give the model folder itself`, 'models push');
  }
  const name = stringOption(ctx.values, 'name') ?? path.basename(given);
  const version = stringOption(ctx.values, 'version') ?? highestVersion(dir);
  if (version === undefined)
    throw new UsageError(`${ctx.args.dir} has no numeric version folder`, 'models push');
  // The registry's own rules: a name or version it would refuse is the command line's mistake.
  if (!MODEL_NAME.test(name)) {
    throw new UsageError(
      `model name '${name}' must be 1-64 letters, digits, _ . - and start alphanumeric${
        ctx.values.name === undefined ? ': give one with --name' : ''
      }`,
      'models push',
    );
  }
  checkVersion(version, '--version', 'models push');

  // The archive holds the model folder at its root, as the stack packs it (lib/model-archive.ts).
  let archive: Buffer;
  try {
    archive = gzipDeterministic(packModelRepositoryTar(path.dirname(dir), [path.basename(dir)]));
  } catch (error) {
    throw new UsageError(`cannot pack ${ctx.args.dir}: ${(error as Error).message}`, 'models push');
  }
  const sha256 = createHash('sha256').update(archive).digest('hex');
  const base = `/v1/models/${segment(name)}/versions/${segment(version)}/upload`;
  const started = await ctx.api().request<StartedUpload>('POST', base, {
    body: { sha256, size: archive.length },
    retry: true,
  });
  const upload = started.body;
  const progress = new UploadProgress(ctx.io.stderr, archive.length);
  let completion: { uploadId?: string; parts?: { partNumber: number; etag: string }[] } = {};
  if (upload.mode === 'single') {
    progress.add(0);
    await put(upload.url, archive, upload.headers);
    progress.add(archive.length);
  } else if (upload.mode === 'multipart') {
    const parts = [];
    progress.add(0);
    for (const part of upload.parts) {
      const start = (part.partNumber - 1) * upload.partSize;
      const bytes = archive.subarray(start, start + upload.partSize);
      const etag = await put(part.url, bytes, {});
      parts.push({ partNumber: part.partNumber, etag });
      progress.add(bytes.length);
    }
    completion = { uploadId: upload.uploadId, parts };
  } else {
    ctx.io.stderr.write(`${upload.archive} is stored already\n`);
  }
  if (upload.mode !== 'stored') progress.finish();
  // Not retried: a repeated completion would answer 409 for the version the first one registered.
  const { body } = await ctx.api().request<PushedVersion>('POST', `${base}/complete`, {
    body: { sha256, ...completion },
  });
  ctx.io.stderr.write(`pushed ${body.name} version ${body.version} (${upload.archive}): ${body.status}\n`);
  const settled = ctx.values['no-wait'] ? body : await waitForWarmUp(ctx, body, timeoutMs);
  await printJson(ctx.io, settled);
  if (settled.status === 'FAILED') {
    throw new CliError(
      `${name} version ${version} FAILED its warm-up: ${settled.statusReason ?? 'no reason given'}`,
    );
  }
  return 0;
}

interface PushedVersion {
  name: string;
  version: string;
  status: string;
  statusReason?: string;
}

/** Polls the version until its warm-up ends, printing each status it passes through. */
async function waitForWarmUp(
  ctx: CommandContext,
  pushed: PushedVersion,
  timeoutMs: number,
): Promise<PushedVersion> {
  const deadline = ctx.now() + timeoutMs;
  const path = `/v1/models/${segment(pushed.name)}/versions/${segment(pushed.version)}`;
  let current = pushed;
  while (current.status === 'LOADING') {
    if (ctx.now() + WARM_UP_POLL_MS > deadline) {
      throw new CliError(
        `${pushed.name} version ${pushed.version} is still LOADING after ${timeoutMs / 1000} s; see 'models get ${pushed.name} --version ${pushed.version}'`,
      );
    }
    await ctx.sleep(WARM_UP_POLL_MS);
    const { body } = await ctx.api().request<PushedVersion>('GET', path, { retry: true });
    if (body.status !== current.status)
      ctx.io.stderr.write(`${body.name} version ${body.version}: ${body.status}\n`);
    current = body;
  }
  return current;
}

const WARM_UP_POLL_MS = 1_000;

/** One presigned PUT; S3's answer is XML, so its text is the message. Returns the ETag. */
async function put(url: string, body: Uint8Array, headers: Record<string, string>): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'PUT', body, headers });
  } catch (error) {
    throw new CliError(`upload to the model store failed: ${(error as Error).message}`);
  }
  if (!response.ok) {
    const text = (await response.text()).slice(0, 500);
    throw new CliError(`upload to the model store answered HTTP ${response.status}: ${text}`);
  }
  return response.headers.get('etag') ?? '';
}
