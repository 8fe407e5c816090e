/**
 * A working-copy lease's interfaces: its host lease's, rooted in the checkout. Paths and `cwd`
 * are checked here as a lease path (relative, no `..`) before the checkout's prefix is put in
 * front, so nothing a lease sends names a place outside the checkout; the host lease's own
 * interface then applies its checks (symlinks, its root) to the full path.
 */
import type { LeaseInterfaces } from "../blueprint";
import type { CommandInterface } from "../../interfaces/command-interface";
import type { FilesystemInterface } from "../../interfaces/filesystem-interface";
import { ValidationError } from "../../domain/errors";
import { httpdVia } from "../../interfaces/httpd-interface";
import { splitLeasePath } from "../../interfaces/lease-path";
import { copyMarkers } from "./copy-processes";
import { CHECKOUT_DIR } from "./git-commands";

/** `a/./b//c` -> `repo/a/b/c`; the root itself (`""`, `.`) -> `repo`. */
export function inCheckout(relPath: string | undefined): string {
  if (relPath === undefined || relPath === "" || relPath === ".") return CHECKOUT_DIR;
  const segments = splitLeasePath(relPath);
  return segments.length === 0 ? CHECKOUT_DIR : `${CHECKOUT_DIR}/${segments.join("/")}`;
}

/** The lease's interfaces; its commands carry the copy's process markers (copy-processes.ts). */
export function checkoutInterfaces(host: LeaseInterfaces, resourceId: string, leaseId: string): LeaseInterfaces {
  const command: CommandInterface = {
    exec: (argv, options = {}) => host.command.exec(argv, { ...options, cwd: inCheckout(options.cwd), env: { ...(options.env ?? {}), ...copyMarkers(resourceId, leaseId) } }),
  };
  const filesystem: FilesystemInterface = {
    openFile: async (path) => host.filesystem.openFile(inCheckout(path)),
    writeFile: async (path, data) => host.filesystem.writeFile(inCheckout(path), data),
    list: async (path, page) => host.filesystem.list(inCheckout(path), page),
    // The checkout itself is the copy's, not the lease's to remove.
    remove: async (path) => {
      if (splitLeasePath(path).length === 0) throw new ValidationError("refusing to remove the lease root", { field: "path", path });
      return host.filesystem.remove(inCheckout(path));
    },
  };
  // A preview of the checkout: servers start through the copy's commands (in the checkout, with
  // the copy's markers, so its teardown ends them) and are reached as the host lease's are.
  return { command, filesystem, ...(host.httpd ? { httpd: httpdVia(host.httpd, command) } : {}) };
}
