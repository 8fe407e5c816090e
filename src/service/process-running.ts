/** Whether a process with this pid runs on this machine (signal 0 checks, it sends nothing). */
export function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: there is such a process, only not ours to signal.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
