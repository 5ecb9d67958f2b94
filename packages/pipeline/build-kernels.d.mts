/** kernels/resample.ts, the AssemblyScript source. */
export declare const KERNELS_SOURCE: string;
/** src/pipeline/resample-wasm.ts, the committed module that embeds the compiled kernels. */
export declare const KERNELS_MODULE: string;
/** Compiles the kernels; resolves to the WebAssembly bytes. */
export declare function compileKernels(): Promise<Buffer>;
/** The text of the TypeScript module that embeds `wasm`. */
export declare function kernelsModuleText(wasm: Buffer): string;
