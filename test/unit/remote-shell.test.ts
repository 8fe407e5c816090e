import { execFileSync, spawnSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/domain/errors";
import { assertSafeAbsolute, PID_MARKER, remoteCommandLine, shellQuote } from "../../src/interfaces/remote-shell";

/** The command lines sent to a remote shell, checked against this machine's /bin/sh. */
const sh = (script: string) => execFileSync("/bin/sh", ["-c", script], { encoding: "utf8" });

describe("remote shell quoting", () => {
  it("quotes any string so the shell hands it back unchanged (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 30 }).filter((s) => !s.includes("\0")), (word) => {
        expect(sh(`printf %s ${shellQuote(word)}`)).toBe(word);
      }),
      { numRuns: 100 },
    );
  });

  it("builds a script that cds, reports its pid, exports the variables and execs the quoted argv", () => {
    const line = remoteCommandLine({ dir: "/tmp", argv: ["printf", "%s|%s", "it's", "$X"], env: { X: "a b", IFS: "-" } });
    expect(line).toBe(`cd -- '/tmp' && printf '${PID_MARKER}%s\\n' "$$" >&2 && { export X='a b'; export IFS='-'; exec 'printf' '%s|%s' 'it'\\''s' '$X'; }`);
    const out = execFileSync("/bin/sh", ["-c", line], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(out).toBe("it's|$X");
  });

  it("refuses what cannot be sent safely", () => {
    expect(() => remoteCommandLine({ dir: "/tmp", argv: ["a\0b"] })).toThrow(ValidationError);
    expect(() => remoteCommandLine({ dir: "/tmp", argv: [""] })).toThrow(ValidationError);
    expect(() => remoteCommandLine({ dir: "/tmp", argv: ["true"], env: { "BAD-NAME": "x" } })).toThrow(ValidationError);
    expect(() => remoteCommandLine({ dir: "tmp", argv: ["true"] })).toThrow(ValidationError);
    expect(() => remoteCommandLine({ dir: "/tmp", argv: ["a", "b"], shell: true })).toThrow(ValidationError);
    expect(() => remoteCommandLine({ dir: "/tmp", argv: ["true"], maxProcesses: 0 })).toThrow(ValidationError);
    for (const dir of ["/", "/tmp", "relative/dir", "/tmp/../etc", "/tmp/x\0"]) expect(() => assertSafeAbsolute(dir), dir).toThrow(ValidationError);
    expect(() => assertSafeAbsolute("/tmp/drydock")).not.toThrow();
  });

  it("runs the command under maxProcesses (soft and hard) in dash and bash, and refuses to run when the limit cannot be set", () => {
    const line = remoteCommandLine({ dir: "/tmp", argv: ["cat", "/proc/self/limits"], maxProcesses: 77 });
    for (const shell of ["/bin/dash", "/bin/bash"]) {
      const out = execFileSync(shell, ["-c", line], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      expect(out, shell).toMatch(/^Max processes +77 +77 +processes/m);
    }
    // A hard limit below maxProcesses: an unprivileged user cannot raise it (root could, so as
    // root the script runs as nobody).
    const drop = process.getuid?.() === 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
    const r = spawnSync("/bin/sh", ["-c", `ulimit -u 50 2>/dev/null || ulimit -p 50; exec ${drop}/bin/sh -c ${shellQuote(line)}`], { encoding: "utf8" });
    expect(r.status).toBe(126);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("drydock: cannot limit processes to 77 (ulimit -u 77)");
  });
});
