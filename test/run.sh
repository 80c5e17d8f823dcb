#!/usr/bin/env bash
# The whole suite: typecheck, then every vitest file, then one closing line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

report=$(mktemp)
trap 'rm -f "$report"' EXIT

if ! npx tsc --noEmit; then
  echo "typecheck failed"
  echo "0 passed, 1 failed"
  exit 1
fi

npx vitest run --reporter=default --reporter=json --outputFile.json="$report"
status=$?

node -e '
  const fs = require("node:fs");
  let r = {};
  try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch {}
  const passed = r.numPassedTests ?? 0;
  // A file that failed without a failing test (it did not load, or a hook threw) counts as one failure.
  const files = r.testResults ?? [];
  const brokenFiles = files.filter((f) => f.status === "failed" && !(f.assertionResults ?? []).some((a) => a.status === "failed")).length;
  const failed = (r.numFailedTests ?? 0) + brokenFiles + (r.numTotalTests ? 0 : 1);
  console.log(`${passed} passed, ${failed} failed`);
' "$report"
exit $status
