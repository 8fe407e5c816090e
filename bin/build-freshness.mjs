// Whether dist/ (bin/build.mjs) is at least as new as every source file: bin/drydock.js runs it
// only then, and bench/startup.ts says which one it measured.
import { readdirSync, statSync } from "node:fs";

export const root = new URL("..", import.meta.url);
export const built = new URL("dist/main.js", root);

function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of ["src", "events", "projections"]) walk(new URL(dir, root).pathname);
  return newest;
}

export function builtIsFresh() {
  try {
    return statSync(built).mtimeMs >= newestSource();
  } catch {
    return false;
  }
}
