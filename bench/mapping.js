// Throughput of the reference implementation (npm `jsonata`) on a page of records, for
// benches/mapping.rs, which spawns it so one run prints every number:
//
//   NODE_PATH=target/npm/node_modules node bench/mapping.js MAPPING.jsonata PAGE.json RECORDS_KEY BINDINGS.json SECONDS
//
// One iteration is what Switchyard's list route does with a page: parse the page text, evaluate
// the mapping on each record, leave out a record mapped to nothing (undefined or null), and
// serialize the mapped records as one JSON array. Prints {"pages_per_sec" (per CPU second),
// "iterations", "output"}.
'use strict';

const fs = require('fs');
const path = require('path');
const jsonata = require('jsonata');
const twins = require(path.join(__dirname, 'twins.js'));

async function main() {
  const [mappingFile, pageFile, recordsKey, bindingsFile, secondsText] = process.argv.slice(2);
  const expression = twins.register(jsonata(fs.readFileSync(mappingFile, 'utf8')));
  const pageText = fs.readFileSync(pageFile, 'utf8');
  const bindings = JSON.parse(fs.readFileSync(bindingsFile, 'utf8'));
  const seconds = Number(secondsText || '3');

  const onePage = async () => {
    const page = JSON.parse(pageText);
    const out = [];
    for (const record of page[recordsKey]) {
      const mapped = await expression.evaluate(record, bindings);
      if (mapped !== undefined && mapped !== null) out.push(mapped);
    }
    return JSON.stringify(out);
  };

  // CPU seconds of this process (all its threads, the garbage collector's included), so that
  // other work on a shared machine moves the number less than wall-clock time would.
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  // Warm up the JIT, then measure for the given CPU time.
  let output = '';
  const warm = cpu();
  while (cpu() - warm < Math.max(1, seconds / 5)) output = await onePage();
  let iterations = 0;
  const start = cpu();
  while (cpu() - start < seconds) {
    output = await onePage();
    iterations += 1;
  }
  const pagesPerSec = iterations / (cpu() - start);
  process.stdout.write(JSON.stringify({ pages_per_sec: pagesPerSec, iterations, output }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
