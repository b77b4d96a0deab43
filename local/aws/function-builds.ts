/**
 * The modules local Lambda containers load, built with esbuild and kept between runs.
 *
 * A function is bundled with the options the stack deploys it with (lib/lambda-esbuild-options.ts),
 * packages and all, so a container's init loads what Lambda's does. Loading the TypeScript sources
 * through tsx's hooks in every worker made a cold container take two to three times as long, and
 * loading its packages from node_modules about twice as long (docs/local-platform.md). Only the
 * SDK's HTTP handler stays a package, so the fault hooks (sdk-faults.ts) patch the one the bundle
 * sends through. The runtime's own modules (the container, preloads) keep every package in
 * node_modules, where those hooks find them.
 *
 * Bundling the SDK takes seconds, and every `npm start` and e2e test would pay it: a build is kept
 * under `.local/lambda/` with the list of its input files, and reused while none of them changed
 * (size and modification time, as make does). Files are named after their inputs, so a process
 * never sees a module replaced under it by another's build.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { type BuildOptions, type BuildResult, build, buildSync, version } from 'esbuild';
import { LAMBDA_ESBUILD_OPTIONS } from '../../lib/lambda-esbuild-options';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Inside the repository, so that the packages a build leaves out resolve from its node_modules. */
const CACHE = `${ROOT}.local/lambda/`;
/** The package whose handler every SDK client sends through; sdk-faults.ts wraps it. */
const SDK_HTTP_HANDLER = '@smithy/node-http-handler';
/** Builds unused for this long are removed when another is written. */
const STALE_MS = 24 * 60 * 60 * 1000;

/** A function's handler module, or a module of the local runtime itself. */
export type ModuleKind = 'function' | 'runtime';

interface BuildRecord {
  /** The built module, a file name in the cache. */
  readonly file: string;
  /** Input files relative to the repository, with the size and modification time they were built from. */
  readonly inputs: readonly (readonly [path: string, size: number, mtimeMs: number])[];
}

function optionsOf(source: string, kind: ModuleKind): BuildOptions {
  const common: BuildOptions = {
    entryPoints: [source],
    // This Node.js, not Lambda's: the module runs here.
    target: `node${process.versions.node.split('.')[0]}`,
    // Stack traces name the sources (lambda-container.ts enables source maps).
    sourcemap: 'inline',
    metafile: true,
    write: false,
    logLevel: 'silent',
    // The deployed options' aliases are relative to the repository, as for `cdk synth`.
    absWorkingDir: ROOT,
  };
  return kind === 'function'
    ? { ...LAMBDA_ESBUILD_OPTIONS, ...common, external: [SDK_HTTP_HANDLER] }
    : {
        ...common,
        bundle: true,
        packages: 'external',
        platform: 'node',
        format: 'esm',
        sourcesContent: false,
      };
}

/** The cache's name for a source and kind: the same while the options and esbuild are. */
function keyOf(source: string, kind: ModuleKind): { name: string; key: string } {
  // `functions/handlers/inference/handler.ts` is `inference-handler`.
  const name = source
    .split('/')
    .slice(-2)
    .join('-')
    .replace(/\.[cm]?[jt]s$/, '');
  const key = createHash('sha256')
    .update(JSON.stringify([version, source, optionsOf(source, kind)]))
    .digest('hex')
    .slice(0, 16);
  return { name, key };
}

/** The module of the last build, if none of its inputs changed since. */
function reusable(recordPath: string): string | undefined {
  let record: BuildRecord;
  try {
    record = JSON.parse(readFileSync(recordPath, 'utf8')) as BuildRecord;
    statSync(`${CACHE}${record.file}`);
  } catch {
    return undefined;
  }
  for (const [path, size, mtimeMs] of record.inputs) {
    const stats = statSync(`${ROOT}${path}`, { throwIfNoEntry: false });
    if (!stats || stats.size !== size || stats.mtimeMs !== mtimeMs) return undefined;
  }
  return pathToFileURL(`${CACHE}${record.file}`).href;
}

/** Writes a build and its record (each by rename, so a concurrent reader sees old or new, whole). */
function store(name: string, key: string, result: BuildResult): string {
  // Inputs that are not files (esbuild's namespaced ones) cannot change under the build.
  const inputs = Object.keys(result.metafile?.inputs ?? {}).flatMap((path) => {
    const stats = statSync(`${ROOT}${path}`, { throwIfNoEntry: false });
    return stats ? [[path, stats.size, stats.mtimeMs] as const] : [];
  });
  const code = result.outputFiles?.[0]?.contents;
  if (!code) throw new Error(`esbuild wrote no output for ${name}`);
  const file = `${name}-${key}-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`;
  mkdirSync(CACHE, { recursive: true });
  const temporary = `${CACHE}.${randomBytes(8).toString('hex')}`;
  writeFileSync(temporary, code);
  renameSync(temporary, `${CACHE}${file}`);
  writeFileSync(temporary, JSON.stringify({ file, inputs } satisfies BuildRecord));
  renameSync(temporary, `${CACHE}${name}-${key}.json`);
  removeStale(file);
  return pathToFileURL(`${CACHE}${file}`).href;
}

function removeStale(keep: string): void {
  const now = Date.now();
  for (const entry of readdirSync(CACHE, { withFileTypes: true })) {
    const path = `${CACHE}${entry.name}`;
    // Directories are builds of an earlier layout of this cache.
    if (entry.isDirectory()) rmSync(path, { recursive: true, force: true });
    else if (entry.name === keep) continue;
    // Another process sharing the cache may rename or remove an entry between the listing and here.
    else if (now - (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? now) > STALE_MS) {
      rmSync(path, { force: true });
    }
  }
}

const functions = new Map<string, Promise<string>>();
const runtime = new Map<string, string>();

/**
 * The file URL of a function's module, built in the background: building it blocks neither this
 * process nor requests it serves meanwhile. Rejects with esbuild's error when it does not build.
 */
export function functionModule(source: string): Promise<string> {
  let module = functions.get(source);
  if (!module) {
    const { name, key } = keyOf(source, 'function');
    const cached = reusable(`${CACHE}${name}-${key}.json`);
    module = cached
      ? Promise.resolve(cached)
      : build(optionsOf(source, 'function')).then((result) => store(name, key, result));
    functions.set(source, module);
    // Whoever awaits the module sees a failure; an unawaited one must not end the process.
    module.catch(() => undefined);
  }
  return module;
}

/** The file URL of a module of the local runtime; small, so built synchronously. Throws when it does not build. */
export function runtimeModule(source: string): string {
  let module = runtime.get(source);
  if (!module) {
    const { name, key } = keyOf(source, 'runtime');
    module =
      reusable(`${CACHE}${name}-${key}.json`) ?? store(name, key, buildSync(optionsOf(source, 'runtime')));
    runtime.set(source, module);
  }
  return module;
}

/**
 * A worker thread running a module of the local runtime (built by `runtimeModule`). The module is
 * plain JavaScript: this process's flags (tsx's hooks) would only slow the thread's start.
 */
export function runtimeWorker(source: string, options: WorkerOptions = {}): Worker {
  return new Worker(new URL(runtimeModule(source)), { ...options, execArgv: [] });
}
