// Evaluates cases with the reference JSONata implementation (npm `jsonata`) and the
// JavaScript twins of Switchyard's function library, for tests/mapping_differential.rs.
//
//   node tests/differential/reference.js JOBS.json > RESULTS.json
//
// JOBS.json: {"now": <epoch ms for $now/$millis>, "cases": [{"expr", "input", "bindings"}]}
// RESULTS.json: [{"ok": "<JSON.stringify of the result; null for undefined>"} | {"error": "<code>", "message"}]
// With `--twins`, prints the names of the functions bench/twins.js implements instead.
'use strict';

const fs = require('fs');
const path = require('path');
const jsonata = require('jsonata');
const twins = require(path.join(__dirname, '..', '..', 'bench', 'twins.js'));

async function main() {
  if (process.argv[2] === '--twins') {
    process.stdout.write(JSON.stringify(Object.keys(twins.functions)));
    return;
  }
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const out = [];
  for (const job of jobs.cases) {
    try {
      const expression = twins.register(jsonata(job.expr), { nowMillis: jobs.now });
      const result = await expression.evaluate(job.input, job.bindings || {});
      out.push({ ok: result === undefined ? 'null' : JSON.stringify(result) });
    } catch (e) {
      out.push({ error: e.code || null, message: String(e.message) });
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
