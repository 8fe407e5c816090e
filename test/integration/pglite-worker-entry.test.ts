/**
 * Where PGlite's thread finds its code (src/store/pglite-worker-entry.ts): the build's JavaScript,
 * or, from the sources, pglite-worker.ts bundled into node_modules/.cache/drydock under the hash
 * of its content, so that a changed source is never run from a stale bundle; tsx where the bundle
 * cannot be written.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { pgliteWorkerEntry } from "../../src/store/pglite-worker-entry";

const trees: string[] = [];
afterAll(() => {
  for (const tree of trees) rmSync(tree, { recursive: true, force: true });
});

/** A package whose src/store/pglite-worker.ts is `source`; returns the URL its entry module would have. */
function packageWith(source: string): { root: string; here: string } {
  const root = mkdtempSync(path.join(tmpdir(), "drydock-worker-entry-"));
  trees.push(root);
  mkdirSync(path.join(root, "src/store"), { recursive: true });
  writeFileSync(path.join(root, "src/store/pglite-worker.ts"), source);
  writeFileSync(path.join(root, "src/store/answer.ts"), "export const answer: number = 42;\n");
  return { root, here: pathToFileURL(path.join(root, "src/store/pglite-worker-entry.ts")).href };
}

const hashOf = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex").slice(0, 16);

describe("PGlite's thread code", () => {
  it("from the sources: pglite-worker.ts and what it imports, as one JavaScript module in node_modules/.cache/drydock, named by its hash", async () => {
    const { entry, loader } = await pgliteWorkerEntry();
    expect(loader).toBeUndefined();
    const file = fileURLToPath(entry);
    expect(path.dirname(file)).toBe(path.resolve("node_modules/.cache/drydock"));
    expect(path.basename(file)).toBe(`pglite-worker-${hashOf(file)}.mjs`);
    const code = readFileSync(file, "utf8");
    expect(code).toMatch(/from "@electric-sql\/pglite"/);
    // Bundled: the prepared statements' module is inside, not imported as TypeScript.
    expect(code).not.toMatch(/from "\.\/pglite-prepared/);
    expect(code).toMatch(/PGlitePreparedStatements = class/);
  });

  it("a changed source makes a bundle of its own, beside the one before", async () => {
    const { root, here } = packageWith(`import { answer } from "./answer";\nconsole.log(answer);\n`);
    const before = fileURLToPath((await pgliteWorkerEntry(here)).entry);
    expect(before.startsWith(path.join(root, "node_modules/.cache/drydock/"))).toBe(true);
    expect(readFileSync(before, "utf8")).toContain("answer = 42");
    // As the next process would after an edit: this one keeps its bundle, as its own modules do not
    // change under it either (the same module by another spelling of its path).
    writeFileSync(path.join(root, "src/store/answer.ts"), "export const answer: number = 43;\n");
    const after = fileURLToPath((await pgliteWorkerEntry(here.replace("/src/store/", "/src/store/../store/"))).entry);
    expect(path.basename(after)).toBe(`pglite-worker-${hashOf(after)}.mjs`);
    expect(after).not.toBe(before);
    expect(readFileSync(after, "utf8")).toContain("answer = 43");
    expect(readFileSync(before, "utf8")).toContain("answer = 42");
  });

  it("where the bundle cannot be written, the thread loads the TypeScript through tsx", async () => {
    const { root, here } = packageWith(`console.log(1);\n`);
    // A file where the cache's directory would be: mkdir fails.
    writeFileSync(path.join(root, "node_modules"), "");
    const { entry, loader } = await pgliteWorkerEntry(here);
    expect(entry).toBe(new URL("./pglite-worker.ts", here).href);
    expect(loader).toMatch(/tsx/);
    expect(existsSync(fileURLToPath(loader!))).toBe(true);
  });

  it("from the build: dist/pglite-worker.js, whether asked from dist/ or dist/chunks/", async () => {
    expect((await pgliteWorkerEntry("file:///opt/drydock/dist/main.js")).entry).toBe("file:///opt/drydock/dist/pglite-worker.js");
    expect((await pgliteWorkerEntry("file:///opt/drydock/dist/chunks/serve-AB12.js")).entry).toBe("file:///opt/drydock/dist/pglite-worker.js");
  });
});
