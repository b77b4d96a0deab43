/** cls-hooked's Node 8+ module, the one the X-Ray SDK requires; it ships no types of its own. */
declare module 'cls-hooked/context' {
  const context: { createNamespace(name: string): unknown };
  export default context;
}
