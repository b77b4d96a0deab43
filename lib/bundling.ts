import { type BundlingOptions, LogLevel, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LAMBDA_ESBUILD_OPTIONS } from './lambda-esbuild-options';

/** Maps the shared esbuild options onto `NodejsFunction` bundling options. */
export function toNodejsBundlingOptions(): BundlingOptions {
  const options = LAMBDA_ESBUILD_OPTIONS;
  return {
    format: OutputFormat.ESM,
    target: options.target,
    minify: options.minify,
    sourceMap: options.sourcemap,
    sourceMapMode: SourceMapMode.DEFAULT,
    sourcesContent: options.sourcesContent,
    mainFields: [...options.mainFields],
    banner: options.banner.js,
    externalModules: [...options.external],
    bundleAwsSDK: true,
    esbuildArgs: { '--alias': Object.entries(options.alias).map(([from, to]) => `${from}=${to}`) },
    logLevel: LogLevel.WARNING,
  };
}
