import { devSigningSecret } from '../../local/dev-credentials';

/**
 * Creates `.local/jwt-secret` once before any file runs. Platforms started by files running side by
 * side then all read the same secret instead of racing to create it (a reader could meet the file
 * between its creation and its contents).
 */
export default function setup(): void {
  devSigningSecret();
}
