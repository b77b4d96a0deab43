import { parseJsonDocument, readInputFile, stringOption } from '../args';
import { type CommandContext, printJson, segment, write } from '../context';
import { UsageError } from '../errors';

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
