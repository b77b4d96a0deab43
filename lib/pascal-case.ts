/**
 * A construct id from a kebab-case name or a SNAKE_CASE constant: `batch-fan-out` → `BatchFanOut`,
 * `DEFAULT_4XX` → `Default4xx`. Ids feed logical ids, so this must keep giving the same result.
 */
export function pascalCase(name: string): string {
  return name
    .toLowerCase()
    .split(/[_-]/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}
