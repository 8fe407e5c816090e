import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

/** PGlite's WebAssembly, compiled, and its file system bundle: what each of its threads is given. */
export interface PGliteArtifacts {
  pgliteWasmModule: WebAssembly.Module;
  fsBundle: Uint8Array;
}

let loaded: Promise<PGliteArtifacts> | undefined;

/**
 * PGlite's artifacts, read and compiled once per process and kept for its life.
 *
 * V8 shares a compiled WebAssembly module among the threads that have the same bytes, but only
 * while one of them keeps it: each PGlite thread compiled the 9 MB of PostgreSQL again once the
 * thread before had stopped, and ran its first statements again in V8's baseline tier. Kept here,
 * the next thread instantiates the compiled module, its hot functions already optimised: on this
 * project's 2-core VM, a test database's second open in a process took about 1.1 s and 1.6 s of
 * CPU against 1.7 s and 2.7 s, and its migrations check 10–16 ms against 150–260. A service opens
 * one database, and pays the same compile as before, on V8's background threads.
 */
export function pgliteArtifacts(): Promise<PGliteArtifacts> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<PGliteArtifacts> {
  // The package's files sit beside its entry point (dist/), as PGlite itself finds them.
  const dist = path.dirname(createRequire(import.meta.url).resolve("@electric-sql/pglite"));
  const [bytes, fsBundle] = await Promise.all([readFile(path.join(dist, "pglite.wasm")), readFile(path.join(dist, "pglite.data"))]);
  return { pgliteWasmModule: await wasm.compile(bytes), fsBundle };
}

/** Node's WebAssembly global, which the project's type libraries (ES2022 and Node's, no DOM) declare as types only. */
const wasm = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WebAssembly.Module> } }).WebAssembly;
