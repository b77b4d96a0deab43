/**
 * The command line: the command table, flag parsing with node:util `parseArgs`, and the readers of
 * the files and inline tensors commands take. Everything wrong here is a `UsageError` (exit 2).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DATATYPES, type Datatype } from '../contracts/model-signature';
import { BatchItemSchema } from '../functions/batch/api-schemas';
import { UsageError } from './errors';

export const PROGRAM = 'inference-platform';
export const DEFAULT_API_URL = 'http://127.0.0.1:3000';

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };

interface CommandSpec {
  /** Names of the required positional arguments, in order. */
  readonly args: readonly string[];
  readonly options: Record<string, OptionSpec>;
  readonly summary: string;
  readonly usage: string;
}

const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Record<string, OptionSpec>;

const GLOBAL_HELP = `Global options:
  --url URL      API base URL (env INFERENCE_API_URL; default ${DEFAULT_API_URL})
  --token T      bearer token (env INFERENCE_API_TOKEN; prefer the variable, flags show up in ps)
  -h, --help     show help`;

export const COMMANDS: Record<string, CommandSpec> = {
  infer: {
    summary: 'run one inference',
    args: ['model'],
    options: {
      version: { type: 'string' },
      file: { type: 'string' },
      input: { type: 'string', multiple: true },
    },
    usage: `${PROGRAM} infer <model> [--version V] (--file request.json | --input NAME:DATATYPE:SHAPE:VALUES ...)
  Sends an Open Inference Protocol v2 request and prints the response JSON.
  --file F     the request body ({"inputs": [...]}); - reads stdin
  --input      one tensor inline, repeatable, e.g. FEATURES:FP32:1,4:5.1,3.5,1.4,0.2
  --version V  a version number or an alias (default: the latest active version)`,
  },
  'batch submit': {
    summary: 'submit a batch job from a JSONL file',
    args: ['model'],
    options: {
      file: { type: 'string', multiple: true },
      version: { type: 'string' },
      'idempotency-key': { type: 'string' },
      input: { type: 'string', multiple: true },
      via: { type: 'string' },
      'queue-url': { type: 'string' },
      'sqs-endpoint': { type: 'string' },
      owner: { type: 'string' },
      'job-id': { type: 'string' },
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
    },
    usage: `${PROGRAM} batch submit <model> (--file items.jsonl [--file more.jsonl ...] | --input ID ...) [--version V]
       [--idempotency-key K] [--via api|s3|sqs] [--queue-url URL] [--sqs-endpoint URL] [--owner SUB] [--job-id ID]
       [--wait [--timeout S]] [--json]
  Submits one job; each line of the file is one item: {"id": "optional", "inputs": [v2 input tensors]}.
  Prints the job id (--json: the job).
  --via api           POST /v1/batch-jobs with the items (default up to 4.45 MiB of JSON, the most
                      the API takes); --idempotency-key makes a retry return the same job
  --via s3            upload the file as a batch input (default above 4.45 MiB, up to 2 GiB), then submit a
                      job naming it; bad lines fail as their items, with their line numbers. Several
                      --file (up to 100, default s3) go up as one input each: the job's items are their
                      lines in the order given
  --input ID          a batch input uploaded already, by id, name, or a prefix and * for every input
                      of yours whose id starts with it (repeatable, in order); instead of --file
  --via sqs           send the submission straight to the submissions queue; needs --owner
  --queue-url URL     submissions queue (env INFERENCE_SUBMISSIONS_QUEUE_URL)
  --sqs-endpoint URL  SQS endpoint (env AWS_ENDPOINT_URL_SQS), e.g. the local fauxqs URL
  --job-id ID         job id for --via sqs (default: the message id)
  --wait              then wait as 'batch wait' does`,
  },
  'batch status': {
    summary: "show a job's status",
    args: ['jobId'],
    options: { json: { type: 'boolean' } },
    usage: `${PROGRAM} batch status <jobId> [--json]
  Prints the job's status and counts (--json: the job as JSON).`,
  },
  'batch wait': {
    summary: 'wait for a job to finish',
    args: ['jobId'],
    options: { timeout: { type: 'string' }, interval: { type: 'string' }, json: { type: 'boolean' } },
    usage: `${PROGRAM} batch wait <jobId> [--timeout S] [--interval S] [--json]
  Polls until the job finishes, with progress on stderr. Exits 0 when it SUCCEEDED, 1 when it ended
  otherwise or the timeout passed. --json prints the final job on stdout.`,
  },
  'batch results': {
    summary: "write a job's results as JSONL",
    args: ['jobId'],
    options: { out: { type: 'string' } },
    usage: `${PROGRAM} batch results <jobId> [--out results.jsonl]
  Writes one JSON line per item, in item order: {"index", "id"?, "outputs" | "error" | "cancelled"}.`,
  },
  'batch list': {
    summary: 'list your jobs',
    args: [],
    options: { limit: { type: 'string' }, json: { type: 'boolean' } },
    usage: `${PROGRAM} batch list [--limit N] [--json]
  Lists your jobs, newest first (default 20).`,
  },
  'batch cancel': {
    summary: 'cancel a job',
    args: ['jobId'],
    options: {},
    usage: `${PROGRAM} batch cancel <jobId>
  Stops the chunks not yet started and prints the job.`,
  },
  'models list': {
    summary: 'list models',
    args: [],
    options: { json: { type: 'boolean' } },
    usage: `${PROGRAM} models list [--json]
  Lists every registered model (one name per line; --json: the models as JSON).`,
  },
  'models get': {
    summary: 'show a model or one version',
    args: ['name'],
    options: { version: { type: 'string' } },
    usage: `${PROGRAM} models get <name> [--version V]
  Prints a model with its versions and aliases, or one version.`,
  },
  'models register': {
    summary: 'register a model version',
    args: ['name'],
    options: { file: { type: 'string' } },
    usage: `${PROGRAM} models register <name> --file version.json
  Registers a model version: the file is the body of POST /v1/models (version, platform, inputs,
  outputs, maxBatchSize, backends, ...); its "name" may be left out.`,
  },
  'models push': {
    summary: 'upload a model folder as a new version and register it',
    args: ['dir'],
    options: {
      name: { type: 'string' },
      version: { type: 'string' },
      'no-wait': { type: 'boolean' },
      timeout: { type: 'string' },
    },
    usage: `${PROGRAM} models push <model-dir> [--name N] [--version V] [--no-wait] [--timeout S]
  Packs the Triton model folder (config.pbtxt, numeric version folders) as the stack packs it,
  uploads it with its SHA-256 (in parts above 8 MiB), and registers the version once the platform
  has checked the archive. --name defaults to the folder's name, --version to its highest version
  folder, which must be the one Triton serves. The version starts LOADING; the command then waits
  for its warm-up, printing each status change, and prints the version once it is ACTIVE. A FAILED
  version exits 1 with the reason. --no-wait returns at once, LOADING; --timeout S stops waiting
  after S seconds (default: the platform's 15-minute warm-up budget and a minute more).`,
  },
  'models promote': {
    summary: 'route all or a share of an alias to a version',
    args: ['model', 'version'],
    options: { weight: { type: 'string' }, alias: { type: 'string' } },
    usage: `${PROGRAM} models promote <model> <version> [--weight N] [--alias A]
  Gives the version N % of the alias (default 100, the whole of it); the versions already there
  keep the rest in proportion. --alias defaults to live. Prints the alias.`,
  },
  'models rollback': {
    summary: 'restore the routes an alias had before its last move',
    args: ['model'],
    options: { alias: { type: 'string' } },
    usage: `${PROGRAM} models rollback <model> [--alias A]
  Puts back the routes the alias had before its last change (--alias defaults to live). Rolling
  back twice undoes the rollback. Prints the alias.`,
  },
  'models delete': {
    summary: 'delete a model version',
    args: ['model', 'version'],
    options: {},
    usage: `${PROGRAM} models delete <model> <version>
  Deletes the version; refused (HTTP 409) while an alias routes to it.`,
  },
};

const GROUPS = ['batch', 'models'];

export const USAGE = `Usage: ${PROGRAM} <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, spec]) => `  ${name.padEnd(17)}${spec.summary}`)
  .join('\n')}

Run '${PROGRAM} <command> --help' for a command's options.

${GLOBAL_HELP}

Exit codes: 0 ok, 1 request or job failed, 2 usage error.`;

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export type CommandLine =
  | { readonly help: string }
  | {
      readonly command: string;
      readonly args: Record<string, string>;
      readonly values: OptionValues;
    };

/** Splits argv into the command, its positional arguments and its flags; global flags may come first. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const leading: string[] = [];
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    leading.push(argv[i]!);
    if ((argv[i] === '--url' || argv[i] === '--token') && i + 1 < argv.length) leading.push(argv[++i]!);
  }
  const group = argv[i];
  if (group === undefined || group === 'help') {
    if (group === undefined && !leading.some((a) => a === '--help' || a === '-h')) {
      throw new UsageError('no command given');
    }
    // `help batch submit` is `batch submit --help`, and `help batch` the group's list.
    const topic = argv.slice(i + 1);
    return topic.length > 0 && group === 'help' ? parseCommandLine([...topic, '--help']) : { help: USAGE };
  }
  let command = group;
  let rest = argv.slice(i + 1);
  if (GROUPS.includes(group)) {
    const sub = rest[0];
    const subs = Object.keys(COMMANDS).filter((name) => name.startsWith(`${group} `));
    if (sub === undefined || sub.startsWith('-')) {
      if (rest.includes('--help') || rest.includes('-h')) return { help: groupUsage(subs) };
      throw new UsageError(`'${group}' needs a subcommand: ${subs.map((s) => s.split(' ')[1]).join(', ')}`);
    }
    command = `${group} ${sub}`;
    rest = rest.slice(1);
  }
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command '${command}'`);

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...leading, ...rest],
      options: { ...GLOBAL_OPTIONS, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(parseArgsMessage(error), command);
  }
  if (parsed.values.help) return { help: `Usage: ${spec.usage}\n\n${GLOBAL_HELP}` };
  const positionals = parsed.positionals;
  if (positionals.length < spec.args.length) {
    throw new UsageError(`missing <${spec.args[positionals.length]}>`, command);
  }
  if (positionals.length > spec.args.length) {
    throw new UsageError(`unexpected argument '${positionals[spec.args.length]}'`, command);
  }
  // An empty argument or flag value would name nothing: a path segment would reach the API as
  // another route, a flag would be taken as not given.
  const empty = positionals.indexOf('');
  if (empty !== -1) throw new UsageError(`<${spec.args[empty]}> is empty`, command);
  for (const [flag, value] of Object.entries(parsed.values)) {
    if (value === '' || (Array.isArray(value) && value.includes(''))) {
      throw new UsageError(`--${flag} is empty`, command);
    }
  }
  const args = Object.fromEntries(spec.args.map((name, n) => [name, positionals[n]!]));
  return { command, args, values: parsed.values as OptionValues };
}

function groupUsage(subs: readonly string[]): string {
  return `Usage:\n${subs.map((name) => COMMANDS[name]!.usage).join('\n\n')}\n\n${GLOBAL_HELP}`;
}

export interface ApiConfig {
  readonly url: string;
  readonly token?: string;
}

/** The API URL and token: flags win over the environment. */
export function resolveConfig(values: OptionValues, env: NodeJS.ProcessEnv): ApiConfig {
  const url = stringOption(values, 'url') ?? (env.INFERENCE_API_URL || DEFAULT_API_URL);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`the API URL '${url}' is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`the API URL '${url}' must be http or https`);
  }
  const token = stringOption(values, 'token') ?? (env.INFERENCE_API_TOKEN || undefined);
  return { url: url.replace(/\/+$/, ''), ...(token ? { token } : {}) };
}

/** A repeatable string option's values, in the order given. */
export function stringsOption(values: OptionValues, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A positive number of seconds, returned as milliseconds. */
export function secondsOption(values: OptionValues, name: string): number | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new UsageError(`--${name} must be a positive number of seconds, got '${raw}'`);
  }
  return seconds * 1000;
}

export interface InlineTensor {
  name: string;
  shape: number[];
  datatype: Datatype;
  data: (number | boolean | string)[];
}

/**
 * `NAME:DATATYPE:SHAPE:VALUES`, shape and values comma-separated (`FEATURES:FP32:1,4:5.1,3.5,1.4,0.2`).
 * Everything after the third colon is the values, so BYTES values may contain colons but not commas.
 */
export function parseInlineTensor(spec: string): InlineTensor {
  const parts = spec.split(':');
  if (parts.length < 4) {
    throw new UsageError(
      `--input '${spec}' must be NAME:DATATYPE:SHAPE:VALUES, e.g. INPUT0:FP32:1,4:1,2,3,4`,
    );
  }
  const [name, datatypeText, shapeText] = parts as [string, string, string];
  const valuesText = parts.slice(3).join(':');
  const where = `--input '${name}'`;
  if (name === '') throw new UsageError(`--input '${spec}' has no tensor name`);
  const datatype = datatypeText.toUpperCase();
  if (!(DATATYPES as readonly string[]).includes(datatype)) {
    throw new UsageError(
      `${where}: unknown datatype '${datatypeText}'; expected one of ${DATATYPES.join(', ')}`,
    );
  }
  const shape = shapeText === '' ? [] : shapeText.split(',').map(Number);
  if (shape.some((dim) => !Number.isSafeInteger(dim) || dim < 0)) {
    throw new UsageError(`${where}: shape '${shapeText}' must be comma-separated non-negative integers`);
  }
  const texts = valuesText === '' ? [] : valuesText.split(',');
  const count = shape.reduce((n, dim) => n * dim, 1);
  if (texts.length !== count) {
    throw new UsageError(`${where}: shape [${shape.join(',')}] needs ${count} values, got ${texts.length}`);
  }
  const data = texts.map((text, i) => parseElement(text, datatype as Datatype, `${where} value ${i}`));
  return { name, shape, datatype: datatype as Datatype, data };
}

function parseElement(text: string, datatype: Datatype, where: string): number | boolean | string {
  if (datatype === 'BYTES') return text;
  if (datatype === 'BOOL') {
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
    throw new UsageError(`${where} '${text}' must be true or false`);
  }
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) {
    throw new UsageError(`${where} '${text}' is not a number`);
  }
  if (!datatype.startsWith('FP') && !Number.isInteger(value)) {
    throw new UsageError(`${where} '${text}' must be an integer for ${datatype}`);
  }
  return value;
}

/** Reads a file (`-` is stdin); a missing or unreadable file is a usage error. */
export function readInputFile(path: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new UsageError(`cannot read '${path}': ${reason}`);
  }
}

/** Parses a JSON document, naming the file and line of a syntax error. */
export function parseJsonDocument(text: string, source: string): unknown {
  try {
    // A byte order mark, as some editors write, is no part of the JSON (as for JSONL files).
    return JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch (error) {
    throw new UsageError(`${source}: not valid JSON: ${(error as Error).message}`);
  }
}

export type BatchItem = { id?: string; inputs: unknown[] };

/**
 * Parses JSONL batch items, one per non-blank line, each checked against the batch item schema so
 * that a bad line is reported with its number before anything is sent.
 */
export function parseJsonl(text: string, source: string): BatchItem[] {
  const items: BatchItem[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const where = `${source}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new UsageError(`${where}: not valid JSON: ${(error as Error).message}`);
    }
    const parsed = BatchItemSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.length > 0 ? `'${issue.path.join('.')}' ` : '';
      throw new UsageError(
        `${where}: not a batch item (${field}${issue.message}); each line is {"id"?: string, "inputs": [...]}`,
      );
    }
    items.push(parsed.data);
  });
  if (items.length === 0) throw new UsageError(`${source}: no items (one JSON object per line)`);
  return items;
}

/** A `parseArgs` error's message; Node's text for an unknown option leaves a quote open, this one names the option alone. */
export function parseArgsMessage(error: unknown): string {
  const message = (error as Error).message;
  const option = /^Unknown option '([^']*)'/.exec(message)?.[1];
  return option ? `unknown option '${option}'` : message;
}
