import { parseInlineTensor, parseJsonDocument, readInputFile, stringOption } from '../args';
import { type CommandContext, printJson, segment } from '../context';
import { UsageError } from '../errors';

/** `infer <model>`: one Open Inference Protocol v2 request, from a file or from inline tensors. */
export async function infer(ctx: CommandContext): Promise<number> {
  const file = stringOption(ctx.values, 'file');
  const inline = (ctx.values.input as string[] | undefined) ?? [];
  if (file !== undefined && inline.length > 0)
    throw new UsageError('give --file or --input, not both', 'infer');
  if (file === undefined && inline.length === 0) {
    throw new UsageError('give the request with --file or its tensors with --input', 'infer');
  }
  const body = file === undefined ? { inputs: inline.map(parseInlineTensor) } : readRequest(file);
  const version = stringOption(ctx.values, 'version');
  const path = `/v2/models/${segment(ctx.args.model!)}${version ? `/versions/${segment(version)}` : ''}/infer`;
  // Inference changes nothing, so a throttled request is safe to repeat.
  const response = await ctx.api().request('POST', path, { body, retry: true });
  await printJson(ctx.io, response.body);
  return 0;
}

function readRequest(file: string): unknown {
  const source = file === '-' ? 'stdin' : file;
  const request = parseJsonDocument(readInputFile(file), source);
  const inputs = (request as { inputs?: unknown } | null)?.inputs;
  if (typeof request !== 'object' || request === null || !Array.isArray(inputs)) {
    throw new UsageError(`${source}: an inference request is a JSON object with an "inputs" array`);
  }
  return request;
}
