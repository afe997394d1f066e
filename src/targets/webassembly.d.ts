// The one piece of the WebAssembly API coffer uses (aligned-buffers.ts); TypeScript declares it only in its DOM libraries.
declare namespace WebAssembly {
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
  }
}
