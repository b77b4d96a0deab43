/**
 * zod's functional API (`zod/mini`: a fraction of the classic API's bundle) with English issue
 * messages, which `zod/mini` does not load by itself; they reach clients in 400 responses.
 */
import { en } from 'zod/locales';
import * as z from 'zod/mini';

z.config(en());

export * from 'zod/mini';
