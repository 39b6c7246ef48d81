/** jsonstat-toolkit ships no types: its entry point as the tests use it (a JSON-stat document in, a tree out). */
declare module 'jsonstat-toolkit' {
  const JSONstat: (doc: unknown) => unknown;
  export default JSONstat;
}
