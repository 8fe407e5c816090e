/**
 * The `filesystem` interface of a lease: files inside the lease's working directory.
 * Every path is relative to that directory; a path that leaves it (`..`, absolute, or through a
 * symlink) is refused with a PathOutsideLeaseError.
 */
export interface FileEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "other";
  size: number;
  modifiedAt: string;
}

export interface FilesystemInterface {
  readFile(path: string): Promise<Uint8Array>;
  /** Creates parent directories as needed; replaces an existing file. */
  writeFile(path: string, data: Uint8Array): Promise<void>;
  list(path: string): Promise<FileEntry[]>;
  /** Removes a file or a directory tree. */
  remove(path: string): Promise<void>;
}
