/**
 * Reads the examples out of README.md's fenced shell blocks: each command (with its continuation
 * lines) as shell words, and the output printed under it. Pure text work, no service.
 *
 * The README's shell blocks come in two styles:
 * - with prompts: a command starts with `$ `; the lines under it up to the next command, comment
 *   or blank line are its output (further paragraphs of output follow after blank lines);
 * - without prompts (`npm ci`, `export U=…`): every line that is not a comment is a command.
 * A command goes on over lines while a quote or `$(` is open or a line ends with `\`.
 */

export interface ShellCommand {
  /** README line number (1-based) where the command starts. */
  line: number;
  text: string;
  /** The simple commands of its pipeline/list (split at `|`, `||`, `&&`, `;`), as words after quote removal. */
  parts: string[][];
  /** Its output, in paragraphs (runs of non-blank lines). */
  output: string[][];
}

export interface CodeBlock {
  lang: string;
  line: number;
  lines: string[];
}

export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split("\n");
  let open: CodeBlock | null = null;
  lines.forEach((text, i) => {
    const fence = /^```(\S*)\s*$/.exec(text);
    if (fence && !open) open = { lang: fence[1]!, line: i + 2, lines: [] };
    else if (fence && open) {
      blocks.push(open);
      open = null;
    } else if (open) open.lines.push(text);
  });
  if (open) throw new Error(`README: the code block at line ${(open as CodeBlock).line - 1} is never closed`);
  return blocks;
}

export const isShellBlock = (block: CodeBlock) => ["sh", "bash", "shell", "console"].includes(block.lang);

/** The commands of one shell block, with their output. */
export function shellCommands(block: CodeBlock): ShellCommand[] {
  const prompted = block.lines.some((l) => l.startsWith("$ "));
  const commands: ShellCommand[] = [];
  let i = 0;
  while (i < block.lines.length) {
    const first = block.lines[i]!;
    const isCommand = prompted ? first.startsWith("$ ") : first.trim() !== "" && !first.trimStart().startsWith("#");
    if (!isCommand) {
      i++;
      continue;
    }
    const line = block.line + i;
    let text = prompted ? first.slice(2) : first;
    i++;
    while (tokenize(text).open) {
      if (i >= block.lines.length) throw new Error(`README line ${line}: the command never ends (an open quote, \`$(\` or a trailing \\)`);
      text += `\n${block.lines[i]!}`;
      i++;
    }
    const output: string[][] = [];
    if (prompted) {
      let paragraph: string[] = [];
      while (i < block.lines.length && !block.lines[i]!.startsWith("$ ") && !block.lines[i]!.startsWith("#")) {
        const out = block.lines[i]!;
        if (out.trim() === "") {
          if (paragraph.length > 0) output.push(paragraph);
          paragraph = [];
        } else paragraph.push(out);
        i++;
      }
      if (paragraph.length > 0) output.push(paragraph);
    }
    commands.push({ line, text, parts: tokenize(text).parts, output });
  }
  return commands;
}

/**
 * Shell words of a command line: quotes removed, `$VAR` and `$(…)` kept as written (a `$(…)` is
 * one piece of the word it is in), comments and redirections (`2>/dev/null`) dropped, split into
 * simple commands at `|`, `||`, `&&` and `;`. `open`: the text ends inside a quote, a `$(` or after
 * a line-continuing backslash, so the command goes on on the next line.
 */
export function tokenize(text: string): { parts: string[][]; open: boolean } {
  const parts: string[][] = [[]];
  let word: string | null = null;
  const flush = () => {
    if (word !== null && !/^\d*[<>]/.test(word)) parts[parts.length - 1]!.push(word);
    word = null;
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === " " || c === "\t" || c === "\n") {
      flush();
      i++;
    } else if (c === "\\") {
      if (i + 1 >= text.length) return { parts, open: true };
      if (text[i + 1] !== "\n") word = (word ?? "") + text[i + 1];
      i += 2;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return { parts, open: true };
      word = (word ?? "") + text.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      let value = "";
      while (j < text.length && text[j] !== '"') {
        if (text[j] === "\\" && j + 1 < text.length && '"\\$`'.includes(text[j + 1]!)) {
          value += text[j + 1];
          j += 2;
        } else if (text[j] === "$" && text[j + 1] === "(") {
          const end = closingParen(text, j + 1);
          if (end < 0) return { parts, open: true };
          value += text.slice(j, end + 1);
          j = end + 1;
        } else value += text[j++];
      }
      if (j >= text.length) return { parts, open: true };
      word = (word ?? "") + value;
      i = j + 1;
    } else if (c === "$" && text[i + 1] === "(") {
      const end = closingParen(text, i + 1);
      if (end < 0) return { parts, open: true };
      word = (word ?? "") + text.slice(i, end + 1);
      i = end + 1;
    } else if (c === "#" && word === null) {
      const end = text.indexOf("\n", i);
      i = end < 0 ? text.length : end;
    } else if (c === "|" || c === ";" || (c === "&" && text[i + 1] === "&")) {
      flush();
      parts.push([]);
      i += text[i + 1] === c ? 2 : 1;
    } else {
      word = (word ?? "") + c;
      i++;
    }
  }
  flush();
  return { parts: parts.filter((p) => p.length > 0), open: false };
}

/** Index of the `)` that closes the `(` at `open`, skipping quoted text; -1 if none. */
function closingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) return -1;
      i = end;
    } else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return i;
  }
  return -1;
}

/** The words of a simple command after leading `NAME=value` assignments (and `export`). */
export function withoutAssignments(words: readonly string[]): { assigned: Map<string, string>; words: string[] } {
  const assigned = new Map<string, string>();
  let i = 0;
  if (words[0] === "export") i++;
  for (; i < words.length; i++) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(words[i]!);
    if (!m) break;
    assigned.set(m[1]!, m[2]!);
  }
  return { assigned, words: words.slice(i) };
}

/**
 * The README's convention for abbreviated output (never for request bodies): `...` or `…` right
 * before a closing `}` or `]`, after a comma, stands for the fields left out. Returns the JSON
 * text without those, and whether any were there.
 */
export function withoutElisions(text: string): { json: string; elided: boolean } {
  const json = text.replace(/,\s*(\.\.\.|…)\s*(?=[}\]])/g, "");
  return { json, elided: json !== text };
}

/**
 * A paragraph of output as JSON: one value over its lines, or one value per line (`jq -c`).
 * Undefined when the paragraph does not look like JSON (its first line starts with neither `{` nor `[`).
 */
export function outputJson(paragraph: readonly string[]): { values: { value: unknown; elided: boolean }[] } | { error: string } | undefined {
  if (!/^[[{]/.test(paragraph[0]!)) return undefined;
  const whole = withoutElisions(paragraph.join("\n"));
  try {
    return { values: [{ value: JSON.parse(whole.json), elided: whole.elided }] };
  } catch {
    // Not one value: one per line, each of which must parse.
  }
  const values: { value: unknown; elided: boolean }[] = [];
  for (const line of paragraph) {
    const one = withoutElisions(line);
    try {
      values.push({ value: JSON.parse(one.json), elided: one.elided });
    } catch (error) {
      return { error: `${JSON.stringify(line)}: ${(error as Error).message}` };
    }
  }
  return { values };
}
