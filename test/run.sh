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
  const failed = (r.numFailedTests ?? 0) + (r.numFailedTestSuites ?? 0) + (r.numTotalTests ? 0 : 1);
  console.log(`${passed} passed, ${failed} failed`);
' "$report"
exit $status
