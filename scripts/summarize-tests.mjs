// Prints the suite's one-line verdict, "N passed, M failed", from Jest's JSON
// report plus the gate checks (architecture, types, build) run before Jest.
import { existsSync, readFileSync } from 'node:fs';

const [report, gatesPassed = '0', gatesFailed = '0'] = process.argv.slice(2);
let passed = Number(gatesPassed);
let failed = Number(gatesFailed);
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  // A suite that fails to load has no failed tests but is a failure all the same.
  failed += r.testResults.filter((s) => s.status === 'failed' && s.assertionResults.every((a) => a.status !== 'failed')).length;
  if (r.numTotalTests === 0) failed += 1;
} else {
  failed += 1; // Jest did not even write its report.
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
