import type { FileRead, FilesystemInterface } from "../../src/interfaces/filesystem-interface";

/** The whole body of a read, in memory. */
export async function readWhole(read: FileRead): Promise<Uint8Array> {
  const out = new Uint8Array(read.size);
  let at = 0;
  for await (const chunk of read.body) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** A whole file through a filesystem interface: what openFile says is wrong with the path rejects here. */
export async function readWholeFile(filesystem: Pick<FilesystemInterface, "openFile">, path: string): Promise<Uint8Array> {
  return readWhole(await filesystem.openFile(path));
}
