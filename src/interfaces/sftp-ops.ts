/**
 * ssh2's SFTP calls as promises, and its status codes. Nothing here checks paths: callers go
 * through remote-path.ts first.
 */
import type { OpenMode, SFTPWrapper, Stats } from "ssh2";

/** SFTP status codes (draft-ietf-secsh-filexfer-02, the version OpenSSH speaks). */
export const SFTP_NO_SUCH_FILE = 2;
export const SFTP_PERMISSION_DENIED = 3;
export const SFTP_FAILURE = 4;

export function sftpCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

function call<T>(run: (cb: (err: Error | undefined | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value))));
}

export const lstat = (sftp: SFTPWrapper, path: string) => call<Stats>((cb) => sftp.lstat(path, cb));

/** lstat, or null when nothing is there. */
export async function lstatOrNull(sftp: SFTPWrapper, path: string): Promise<Stats | null> {
  try {
    return await lstat(sftp, path);
  } catch (err) {
    if (sftpCode(err) === SFTP_NO_SUCH_FILE) return null;
    throw err;
  }
}

export const mkdir = (sftp: SFTPWrapper, path: string) => call<void>((cb) => sftp.mkdir(path, (err) => cb(err, undefined)));
export const rmdir = (sftp: SFTPWrapper, path: string) => call<void>((cb) => sftp.rmdir(path, (err) => cb(err, undefined)));
export const unlink = (sftp: SFTPWrapper, path: string) => call<void>((cb) => sftp.unlink(path, (err) => cb(err, undefined)));
export const readdir = (sftp: SFTPWrapper, path: string) =>
  call<{ filename: string; attrs: Stats }[]>((cb) => sftp.readdir(path, (err, list) => cb(err, list as { filename: string; attrs: Stats }[])));
export const open = (sftp: SFTPWrapper, path: string, flags: OpenMode, mode: number) =>
  call<Buffer>((cb) => sftp.open(path, flags, { mode }, cb));
export const fstat = (sftp: SFTPWrapper, handle: Buffer) => call<Stats>((cb) => sftp.fstat(handle, cb));

/** Up to `length` bytes at `position` (fewer at the file's end; none past it). */
export const read = (sftp: SFTPWrapper, handle: Buffer, length: number, position: number) =>
  call<Buffer>((cb) => sftp.read(handle, Buffer.alloc(length), 0, length, position, (err, bytesRead, buffer) => cb(err, err ? Buffer.alloc(0) : buffer.subarray(0, bytesRead))));

export const close = (sftp: SFTPWrapper, handle: Buffer) => call<void>((cb) => sftp.close(handle, (err) => cb(err, undefined)));
export const fchmod = (sftp: SFTPWrapper, handle: Buffer, mode: number) =>
  call<void>((cb) => sftp.fchmod(handle, mode, (err) => cb(err, undefined)));

/** Writes all of `data` at `position` (ssh2 splits it into packets and sends them in turn). */
export function writeAt(sftp: SFTPWrapper, handle: Buffer, data: Buffer, position: number): Promise<void> {
  if (data.length === 0) return Promise.resolve();
  return call<void>((cb) => sftp.write(handle, data, 0, data.length, position, (err) => cb(err, undefined)));
}

/**
 * Renames over an existing file atomically with OpenSSH's posix-rename extension; plain SFTP
 * rename refuses an existing target, so without the extension the target is removed first.
 */
export async function replace(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  try {
    await call<void>((cb) => sftp.ext_openssh_rename(from, to, (err) => cb(err, undefined)));
    return;
  } catch (err) {
    if (!/does not support|not supported/i.test(String((err as Error)?.message))) throw err;
  }
  await unlink(sftp, to).catch(() => undefined);
  await call<void>((cb) => sftp.rename(from, to, (err) => cb(err, undefined)));
}
