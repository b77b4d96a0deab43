#!/usr/bin/env node
// The package's bin: the CLI is TypeScript, so register tsx's loader and import it.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
