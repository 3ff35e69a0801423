// Validates GLB files with the Khronos glTF-Validator; prints a JSON report per file.
"use strict";
const fs = require("fs");
const validator = require("gltf-validator");

async function main() {
  const reports = [];
  for (const path of process.argv.slice(2)) {
    const report = await validator.validateBytes(new Uint8Array(fs.readFileSync(path)), {
      maxIssues: 50,
    });
    reports.push({
      path,
      errors: report.issues.numErrors,
      warnings: report.issues.numWarnings,
      messages: report.issues.messages.filter((m) => m.severity <= 1),
    });
  }
  process.stdout.write(JSON.stringify(reports));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err));
  process.exit(2);
});
