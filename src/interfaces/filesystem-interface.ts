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

/**
 * A regular file opened for reading: its size when it was opened, and its bytes as the reader
 * pulls them. `body` gives exactly `size` bytes, or fails (the file shrank while it was read, the
 * host went away) so a reader never takes a short file for a whole one. Cancelling `body` ends the
 * read and lets go of what it held (a descriptor, a helper process, an SSH channel's use).
 */
export interface FileRead {
  size: number;
  body: ReadableStream<Uint8Array>;
}

/** A file's new content: its bytes, or a stream of them. */
export type FileData = Uint8Array | AsyncIterable<Uint8Array>;

/** A page of a directory's listing: the entries after `after` by name (code-unit order), at most `limit`. */
export interface ListPage {
  after?: string;
  limit?: number;
}

export interface FilesystemInterface {
  /**
   * Opens a regular file for reading; what is wrong with the path (not there, a directory, a
   * symlink) is thrown here, before any byte. The API streams files through this, so a file of
   * any size costs the service a chunk at a time, not the file.
   */
  openFile(path: string): Promise<FileRead>;
  /**
   * Creates parent directories as needed; replaces an existing file. `data` may be a stream of
   * chunks, written as they come: the file is replaced only once all of it arrived, so a stream
   * that fails (a client that hung up, an upload over its limit) leaves the old file, and no
   * partial one, behind.
   */
  writeFile(path: string, data: FileData): Promise<void>;
  /** A directory's entries, sorted by name; all of them without `page`. */
  list(path: string, page?: ListPage): Promise<FileEntry[]>;
  /** Removes a file or a directory tree. */
  remove(path: string): Promise<void>;
}
