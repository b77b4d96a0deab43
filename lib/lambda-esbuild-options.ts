import type { BuildOptions } from 'esbuild';

/**
 * ESM bundles that inline CommonJS dependencies call `require` for Node built-ins; an ES module has
 * no `require`, so the banner creates one. The alias keeps it from clashing with bundled names.
 */
const REQUIRE_BANNER =
  "import { createRequire as __platformCreateRequire } from 'node:module'; const require = __platformCreateRequire(import.meta.url);";

/** Module replacements, relative to the repository root (esbuild's working directory). */
const ALIASES = {
  // Lambda provides credentials in the environment; the rest of the default chain is dead weight.
  '@aws-sdk/credential-provider-node': './functions/lambda-credentials.ts',
};

/**
 * The esbuild options every Lambda bundle uses, as plain data: the CDK stack maps them onto
 * `NodejsFunction` bundling and the bench script passes them to esbuild's own `build()`, so what is
 * measured is what is deployed, and the local Lambda runtime builds its containers' modules from them.
 *
 * Everything is bundled, `@aws-sdk/*` included: a pinned, tree-shaken SDK starts faster than the
 * runtime's copy and cannot change underneath the code.
 */
export const LAMBDA_ESBUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minify: true,
  sourcemap: true,
  // Stack traces only need positions; leaving sources out keeps the map small.
  sourcesContent: false,
  // Prefer ESM builds of dependencies so tree shaking works.
  mainFields: ['module', 'main'],
  banner: { js: REQUIRE_BANNER },
  alias: ALIASES,
  external: [],
  // Warnings and errors only: no size summary per bundle in every synth.
  logLevel: 'warning',
} satisfies BuildOptions;
