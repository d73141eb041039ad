// The slice of the WebAssembly JS API netcrypt uses. Node has it as a global;
// @types/node 20 does not declare it and the DOM lib would add unrelated globals.
declare namespace WebAssembly {
  interface Memory {
    readonly buffer: ArrayBuffer;
  }
  interface Instance {
    readonly exports: Record<string, unknown>;
  }
  interface WebAssemblyInstantiatedSource {
    readonly instance: Instance;
  }
  function instantiate(bytes: Uint8Array, imports?: object): Promise<WebAssemblyInstantiatedSource>;
}
