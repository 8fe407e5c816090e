/**
 * Commits in a sequence of statements as sent: each COMMIT, and each statement that writes sent
 * outside BEGIN…COMMIT, which is its own transaction (a one-statement append). For the
 * statement-budget test and bench/cycle-statements.
 */
export function countCommits(statements: readonly string[]): number {
  let commits = 0;
  let inTransaction = false;
  for (const s of statements) {
    const text = s.trim().toLowerCase();
    if (/^(begin|start transaction)\b/.test(text)) inTransaction = true;
    else if (/^(commit|rollback)\b/.test(text)) {
      if (text.startsWith("commit")) commits++;
      inTransaction = false;
    } else if (!inTransaction && /^(with|insert|update|delete)\b/.test(text) && /\b(insert|update|delete)\b/.test(text)) commits++;
  }
  return commits;
}
