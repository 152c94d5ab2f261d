// JavaScript twins of Switchyard's mapping function library (runtime/src/mapping/functions/),
// for the reference implementation (npm `jsonata`): the differential test and the benchmark
// register them on each expression so that mappings using them run on both engines.
//
// Each twin follows its Rust file rule for rule (argument checks and error codes included);
// docs/functions.md is the contract. A function without a faithful twin is listed there.
//
// Usage: const twins = require('./twins'); twins.register(expression, { nowMillis });
'use strict';

const crypto = require('crypto');

let jsonataModule = null;
function jsonata() {
  if (!jsonataModule) jsonataModule = require('jsonata');
  return jsonataModule;
}

function error(code, message) {
  const e = new Error(`${code}: ${message}`);
  e.code = code;
  return e;
}
const mismatch = (name, position, expected) => error('T0410', `Argument ${position} of function $${name} must ${expected}`);
const isFunction = (v) => typeof v === 'function' || (v !== null && typeof v === 'object' && (v._jsonata_lambda || v._jsonata_function));
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !isFunction(v);

function arity(args, name, min, max) {
  if (args.length > max) throw mismatch(name, max + 1, 'not be given (too many arguments)');
  if (args.length < min) throw mismatch(name, args.length + 1, 'be given');
}
function optStr(args, i, name) {
  const v = args[i];
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  throw mismatch(name, i + 1, 'be a string');
}
function reqStr(args, i, name) {
  const v = args[i];
  if (typeof v === 'string') return v;
  throw mismatch(name, i + 1, 'be a string');
}
function stringList(args, i, name) {
  const v = args[i];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) {
    return v.map((item) => {
      if (typeof item !== 'string') throw mismatch(name, i + 1, 'be an array of strings');
      return item;
    });
  }
  throw mismatch(name, i + 1, 'be an array of strings');
}
function isEmpty(v) {
  if (v === undefined || v === null) return true;
  if (typeof v === 'string') return v.length === 0;
  if (Array.isArray(v)) return v.length === 0;
  if (isObject(v)) return Object.keys(v).length === 0;
  return false;
}
function scalarText(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'boolean') return String(v);
  return undefined;
}
const trimAscii = (s) => s.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');

// ---- $removeEmpty, $firstNonEmpty, $pick, $omit -------------------------------------------

function clean(v) {
  if (Array.isArray(v)) return v.map(clean).filter((x) => !isEmpty(x));
  if (isObject(v)) {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      const c = clean(x);
      if (!isEmpty(c)) out[k] = c;
    }
    return out;
  }
  return v;
}
function removeEmpty(...args) {
  arity(args, 'removeEmpty', 1, 1);
  return clean(args[0]);
}
function firstNonEmpty(...args) {
  const found = args.find((v) => !isEmpty(v));
  return found === undefined ? null : found;
}
function pick(...args) {
  arity(args, 'pick', 2, 2);
  const keys = stringList(args, 1, 'pick');
  const obj = args[0];
  if (obj === undefined) return undefined;
  if (obj === null) return null;
  if (!isObject(obj)) throw mismatch('pick', 1, 'be an object');
  const out = {};
  for (const k of keys) if (Object.prototype.hasOwnProperty.call(obj, k)) out[k] = obj[k];
  return out;
}
function omit(...args) {
  arity(args, 'omit', 2, 2);
  const keys = stringList(args, 1, 'omit');
  const obj = args[0];
  if (obj === undefined) return undefined;
  if (obj === null) return null;
  if (!isObject(obj)) throw mismatch('omit', 1, 'be an object');
  const out = {};
  for (const [k, v] of Object.entries(obj)) if (!keys.includes(k)) out[k] = v;
  return out;
}

// ---- $mapValues ---------------------------------------------------------------------------

function mapValues(...args) {
  arity(args, 'mapValues', 2, 4);
  const mapping = args[1];
  if (!isObject(mapping)) throw mismatch('mapValues', 2, 'be an object');
  const hasDefault = args[2] !== undefined;
  const options = { ignoreCase: true, trim: true };
  const given = args[3];
  if (given !== undefined && given !== null) {
    if (!isObject(given)) throw mismatch('mapValues', 4, 'be an object');
    for (const [k, v] of Object.entries(given)) {
      if (typeof v !== 'boolean') throw error('F0101', `option \`${k}\` of $mapValues must be true or false`);
      if (k === 'ignoreCase') options.ignoreCase = v;
      else if (k === 'trim') options.trim = v;
      else throw error('F0101', `$mapValues has no option \`${k}\` (it has \`ignoreCase\` and \`trim\`)`);
    }
  }
  const find = (text) => {
    const t = options.trim ? trimAscii(text) : text;
    if (!options.ignoreCase) return Object.prototype.hasOwnProperty.call(mapping, t) ? { v: mapping[t] } : undefined;
    const wanted = t.toLowerCase();
    for (const [k, v] of Object.entries(mapping)) if (k.toLowerCase() === wanted) return { v };
    return undefined;
  };
  const lookup = (value) => {
    let found;
    if (value !== null) {
      const text = scalarText(value);
      if (text !== undefined) found = find(text);
    }
    if (found) return found.v;
    if (hasDefault) return args[2];
    return value;
  };
  const value = args[0];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.map(lookup);
  return lookup(value);
}

// ---- $groupBy, $keyBy ---------------------------------------------------------------------

async function keyed(args, name) {
  arity(args, name, 2, 2);
  if (isFunction(args[1])) throw mismatch(name, 2, 'be a string holding a JSONata expression, e.g. "type"');
  const source = reqStr(args, 1, name);
  const value = args[0];
  if (value === undefined) return undefined;
  const elements = Array.isArray(value) ? Array.from(value) : [value];
  let expression;
  try {
    expression = jsonata()(source);
  } catch (e) {
    throw error('F0401', `the key expression ${JSON.stringify(source)} of $${name} does not parse: ${e.message}`);
  }
  const out = [];
  for (let i = 0; i < elements.length; i++) {
    const key = await expression.evaluate(elements[i]);
    if (key === undefined || key === null) continue;
    const text = scalarText(key);
    if (text === undefined) throw error('F0402', `the key of element ${i + 1} is not a string, number or boolean`);
    out.push([text, elements[i]]);
  }
  return out;
}
async function groupBy(...args) {
  const pairs = await keyed(args, 'groupBy');
  if (pairs === undefined) return undefined;
  const groups = new Map();
  for (const [k, v] of pairs) {
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(v);
  }
  return Object.fromEntries(groups);
}
async function keyBy(...args) {
  const pairs = await keyed(args, 'keyBy');
  if (pairs === undefined) return undefined;
  const out = new Map();
  for (const [k, v] of pairs) out.set(k, v);
  return Object.fromEntries(out);
}

// ---- $toNumber, $jsonParse ----------------------------------------------------------------

function toNumber(...args) {
  arity(args, 'toNumber', 1, 1);
  const v = args[0];
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const t = trimAscii(v);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return null;
    const n = Number(t);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}
function jsonParse(...args) {
  arity(args, 'jsonParse', 1, 1);
  const v = args[0];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v !== 'string') throw mismatch('jsonParse', 1, 'be a string');
  try {
    return JSON.parse(v);
  } catch (e) {
    return null;
  }
}

// ---- dates (runtime/src/mapping/functions/datetime.rs) ------------------------------------

const MS_PER_DAY = 86400000;
const MIN_MS = -62167219200000;
const MAX_MS = 253402300799999;
const divEuclid = (a, b) => Math.floor(a / b);
const remEuclid = (a, b) => a - Math.floor(a / b) * b;
const truncDiv = (a, b) => Math.trunc(a / b);

function daysFromCivil(year, month, day) {
  const y = month <= 2 ? year - 1 : year;
  const era = divEuclid(y, 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = truncDiv(153 * mp + 2, 5) + day - 1;
  const doe = yoe * 365 + truncDiv(yoe, 4) - truncDiv(yoe, 100) + doy;
  return era * 146097 + doe - 719468;
}
function civilFromDays(days) {
  const z = days + 719468;
  const era = divEuclid(z, 146097);
  const doe = z - era * 146097;
  const yoe = truncDiv(doe - truncDiv(doe, 1460) + truncDiv(doe, 36524) - truncDiv(doe, 146096), 365);
  const doy = doe - (365 * yoe + truncDiv(yoe, 4) - truncDiv(yoe, 100));
  const mp = truncDiv(5 * doy + 2, 153);
  const day = doy - truncDiv(153 * mp + 2, 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}
function daysInMonth(year, month) {
  if ([4, 6, 9, 11].includes(month)) return 30;
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return 31;
}
const badDate = (text) => error('F0201', `${JSON.stringify(text)} is not a date in a known format`);
function inRange(ms) {
  if (ms >= MIN_MS && ms <= MAX_MS) return ms;
  throw error('F0202', 'the date is outside the years 0000 to 9999');
}
function partsToMillis(p, text) {
  const valid = p.month >= 1 && p.month <= 12 && p.day >= 1 && p.day <= daysInMonth(p.year, p.month) && p.hour <= 23 && p.minute <= 59 && p.second <= 59;
  if (!valid) throw badDate(text);
  const days = daysFromCivil(p.year, p.month, p.day);
  return inRange(days * MS_PER_DAY + ((p.hour * 60 + p.minute) * 60 + p.second) * 1000 + p.millis - (p.offset === undefined ? 0 : p.offset) * 60000);
}
class Scanner {
  constructor(text) {
    this.s = text;
    this.at = 0;
  }
  peek() {
    return this.at < this.s.length ? this.s[this.at] : undefined;
  }
  eat(c) {
    if (this.peek() === c) {
      this.at += 1;
      return true;
    }
    return false;
  }
  digits(n) {
    const slice = this.s.slice(this.at, this.at + n);
    if (slice.length !== n || !/^[0-9]+$/.test(slice)) return undefined;
    this.at += n;
    return Number(slice);
  }
  fraction() {
    const start = this.at;
    while (this.peek() !== undefined && /[0-9]/.test(this.peek())) this.at += 1;
    const d = this.s.slice(start, this.at);
    if (d.length === 0) return undefined;
    return Number((d + '000').slice(0, 3));
  }
  offset() {
    if (this.eat('Z') || this.eat('z')) return 0;
    const c = this.peek();
    let sign;
    if (c === '+') sign = 1;
    else if (c === '-') sign = -1;
    else return undefined;
    this.at += 1;
    const hours = this.digits(2);
    if (hours === undefined) return undefined;
    let minutes;
    if (this.eat(':')) {
      minutes = this.digits(2);
      if (minutes === undefined) return undefined;
    } else {
      minutes = this.digits(2);
      if (minutes === undefined) minutes = 0;
    }
    return hours <= 23 && minutes <= 59 ? sign * (hours * 60 + minutes) : undefined;
  }
  done() {
    return this.at === this.s.length;
  }
}
function newParts() {
  return { year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0, millis: 0, offset: undefined };
}
function parseAuto(text) {
  const s = new Scanner(trimAscii(text));
  const p = newParts();
  const read = () => {
    if ((p.year = s.digits(4)) === undefined || !s.eat('-')) return false;
    if ((p.month = s.digits(2)) === undefined || !s.eat('-')) return false;
    if ((p.day = s.digits(2)) === undefined) return false;
    if (s.done()) return true;
    if (!(s.eat('T') || s.eat('t') || s.eat(' '))) return false;
    if ((p.hour = s.digits(2)) === undefined || !s.eat(':')) return false;
    if ((p.minute = s.digits(2)) === undefined) return false;
    if (s.eat(':')) {
      if ((p.second = s.digits(2)) === undefined) return false;
      if (s.eat('.') || s.eat(',')) {
        if ((p.millis = s.fraction()) === undefined) return false;
      }
    }
    if (!s.done()) {
      if ((p.offset = s.offset()) === undefined) return false;
    }
    return s.done();
  };
  if (!read()) throw badDate(text);
  return partsToMillis(p, text);
}
function checkPattern(pattern, verb) {
  const known = verb === 'parse' ? 'YmdHMSfz%' : 'YmdHMSfz:%';
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    if (chars[i] !== '%') continue;
    const d = chars[++i];
    if (d === undefined || !known.includes(d)) throw error('F0101', `the date pattern ${JSON.stringify(pattern)} has an unknown directive`);
    if (d === ':' && chars[++i] !== 'z') throw error('F0101', `the date pattern ${JSON.stringify(pattern)} has an unknown directive`);
  }
}
function parsePattern(text, pattern) {
  const s = new Scanner(text);
  const p = newParts();
  const chars = Array.from(pattern);
  const read = () => {
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i];
      if (c !== '%') {
        for (const unit of c) if (!s.eat(unit)) return false;
        continue;
      }
      const d = chars[++i];
      let v;
      switch (d) {
        case 'Y': v = p.year = s.digits(4); break;
        case 'm': v = p.month = s.digits(2); break;
        case 'd': v = p.day = s.digits(2); break;
        case 'H': v = p.hour = s.digits(2); break;
        case 'M': v = p.minute = s.digits(2); break;
        case 'S': v = p.second = s.digits(2); break;
        case 'f': v = p.millis = s.fraction(); break;
        case 'z': v = p.offset = s.offset(); break;
        case '%': v = s.eat('%') ? 0 : undefined; break;
        default: return false;
      }
      if (v === undefined) return false;
    }
    return s.done();
  };
  if (!read()) {
    checkPattern(pattern, 'parse');
    throw error('F0201', `${JSON.stringify(text)} does not match the pattern ${JSON.stringify(pattern)}`);
  }
  return partsToMillis(p, text);
}
function parseEpoch(value, unitMs) {
  let n;
  if (typeof value === 'number') n = value;
  else {
    const t = trimAscii(value);
    if (!/^-?[0-9]+(\.[0-9]+)?$/.test(t)) throw badDate(value);
    n = Number(t);
  }
  const ms = Math.floor(n * unitMs + 0.5);
  if (!Number.isFinite(ms) || Math.abs(ms) > 1e15) throw error('F0202', 'the date is outside the years 0000 to 9999');
  return inRange(ms);
}
function parseOffset(text) {
  const s = new Scanner(text);
  const m = s.offset();
  if (m === undefined || !s.done()) throw error('F0101', `${JSON.stringify(text)} is not a UTC offset such as "+05:30", "-0700" or "Z"`);
  return m;
}
const pad = (n, w) => String(n).padStart(w, '0');
function fields(ms, offset) {
  const local = ms + offset * 60000;
  const days = divEuclid(local, MS_PER_DAY);
  const inDay = remEuclid(local, MS_PER_DAY);
  const [year, month, day] = civilFromDays(days);
  return { year, month, day, hour: truncDiv(inDay, 3600000), minute: truncDiv(inDay, 60000) % 60, second: truncDiv(inDay, 1000) % 60, millis: inDay % 1000 };
}
function offsetText(offset, colon) {
  const abs = Math.abs(offset);
  return (offset < 0 ? '-' : '+') + pad(truncDiv(abs, 60), 2) + (colon ? ':' : '') + pad(abs % 60, 2);
}
function formatIso(ms, offset) {
  inRange(ms);
  inRange(ms + offset * 60000);
  const f = fields(ms, offset);
  return `${pad(f.year, 4)}-${pad(f.month, 2)}-${pad(f.day, 2)}T${pad(f.hour, 2)}:${pad(f.minute, 2)}:${pad(f.second, 2)}.${pad(f.millis, 3)}` + (offset === 0 ? 'Z' : offsetText(offset, true));
}
function formatPattern(ms, offset, pattern) {
  checkPattern(pattern, 'format');
  inRange(ms);
  inRange(ms + offset * 60000);
  const f = fields(ms, offset);
  const chars = Array.from(pattern);
  let out = '';
  for (let i = 0; i < chars.length; i++) {
    if (chars[i] !== '%') {
      out += chars[i];
      continue;
    }
    switch (chars[++i]) {
      case 'Y': out += pad(f.year, 4); break;
      case 'm': out += pad(f.month, 2); break;
      case 'd': out += pad(f.day, 2); break;
      case 'H': out += pad(f.hour, 2); break;
      case 'M': out += pad(f.minute, 2); break;
      case 'S': out += pad(f.second, 2); break;
      case 'f': out += pad(f.millis, 3); break;
      case 'z': out += offsetText(offset, false); break;
      case ':': i += 1; out += offsetText(offset, true); break;
      default: out += '%';
    }
  }
  return out;
}
function instant(value, format, name) {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && value.length === 0) return undefined;
  const isNum = typeof value === 'number';
  const isStr = typeof value === 'string';
  if ((isNum || isStr) && format === 'unix') return parseEpoch(value, 1000);
  if ((isNum || isStr) && format === 'millis') return parseEpoch(value, 1);
  if (isNum && format === 'auto') throw error('F0101', `$${name} got a number: give the format "unix" (seconds) or "millis"`);
  if (isStr && format === 'auto') return parseAuto(value);
  if (isStr && format.includes('%')) return parsePattern(value, format);
  if (isStr || isNum) throw error('F0101', `$${name} has no format ${JSON.stringify(format)} (use "auto", "unix", "millis" or a %-pattern)`);
  throw mismatch(name, 1, 'be a string or a number');
}
function parseDate(...args) {
  arity(args, 'parseDate', 1, 2);
  const format = optStr(args, 1, 'parseDate') ?? 'auto';
  const ms = instant(args[0], format, 'parseDate');
  if (ms === undefined) return args[0] === undefined ? undefined : null;
  return formatIso(ms, 0);
}
function formatDate(...args) {
  arity(args, 'formatDate', 1, 3);
  const format = optStr(args, 1, 'formatDate') ?? 'iso';
  const offsetArg = optStr(args, 2, 'formatDate');
  const offset = offsetArg === undefined ? 0 : parseOffset(offsetArg);
  if (!['iso', 'date', 'unix', 'millis'].includes(format) && !format.includes('%')) {
    throw error('F0101', `$formatDate has no format ${JSON.stringify(format)} (use "iso", "date", "unix", "millis" or a %-pattern)`);
  }
  const value = args[0];
  const ms = instant(value, typeof value === 'number' ? 'millis' : 'auto', 'formatDate');
  if (ms === undefined) return value === undefined ? undefined : null;
  switch (format) {
    case 'iso': return formatIso(ms, offset);
    case 'date': return formatPattern(ms, offset, '%Y-%m-%d');
    case 'unix': return divEuclid(ms, 1000);
    case 'millis': return ms;
    default: return formatPattern(ms, offset, format);
  }
}

// ---- URLs, digests ------------------------------------------------------------------------

function pairs(search) {
  const out = new Map();
  for (const [k, v] of new URLSearchParams(search)) {
    if (!out.has(k)) out.set(k, []);
    out.get(k).push(v);
  }
  const obj = {};
  for (const [k, vs] of out) obj[k] = vs.length === 1 ? vs[0] : vs;
  return obj;
}
function parseQuery(...args) {
  arity(args, 'parseQuery', 1, 1);
  const v = args[0];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v !== 'string') throw mismatch('parseQuery', 1, 'be a string');
  return pairs(v);
}
function parseUrl(...args) {
  arity(args, 'parseUrl', 1, 1);
  const text = args[0];
  if (text === undefined) return undefined;
  if (text === null) return null;
  if (typeof text !== 'string') throw mismatch('parseUrl', 1, 'be a string');
  const relative = text.startsWith('/') || text.startsWith('?');
  let u;
  try {
    u = relative ? new URL(text, 'http://relative.invalid') : new URL(text);
  } catch (e) {
    throw error('F0301', `${JSON.stringify(text)} is not a URL (${e.message})`);
  }
  const absent = (v) => (relative ? null : v);
  return {
    scheme: absent(u.protocol.slice(0, -1)),
    host: absent(u.hostname === '' ? null : u.hostname),
    port: absent(u.port === '' ? null : Number(u.port)),
    path: u.pathname,
    query: pairs(u.search),
    fragment: u.hash.length > 1 ? u.hash.slice(1) : null,
  };
}
function encode(buffer, encoding, name) {
  if (encoding === 'hex' || encoding === 'base64' || encoding === 'base64url') return buffer.toString(encoding);
  throw error('F0101', `$${name} has no encoding ${JSON.stringify(encoding)} (use "hex", "base64" or "base64url")`);
}
function sha256(...args) {
  arity(args, 'sha256', 1, 2);
  const encoding = optStr(args, 1, 'sha256') ?? 'hex';
  const v = args[0];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw mismatch('sha256', 1, 'be a string');
  return encode(crypto.createHash('sha256').update(v, 'utf8').digest(), encoding, 'sha256');
}
function hmac(...args) {
  arity(args, 'hmac', 3, 4);
  const algorithm = reqStr(args, 0, 'hmac');
  const key = reqStr(args, 1, 'hmac');
  const message = reqStr(args, 2, 'hmac');
  const encoding = optStr(args, 3, 'hmac') ?? 'hex';
  if (!['sha256', 'sha384', 'sha512'].includes(algorithm)) {
    throw error('F0101', `$hmac has no algorithm ${JSON.stringify(algorithm)} (use "sha256", "sha384" or "sha512")`);
  }
  return encode(crypto.createHmac(algorithm, Buffer.from(key, 'utf8')).update(message, 'utf8').digest(), encoding, 'hmac');
}

const functions = {
  removeEmpty,
  firstNonEmpty,
  pick,
  omit,
  mapValues,
  groupBy,
  keyBy,
  toNumber,
  jsonParse,
  parseDate,
  formatDate,
  parseUrl,
  parseQuery,
  sha256,
  hmac,
};

/// Registers every twin on a compiled expression; with `nowMillis`, freezes $now and $millis
/// as EvalOptions::now_millis does.
function register(expression, options = {}) {
  for (const [name, fn] of Object.entries(functions)) expression.registerFunction(name, fn);
  if (options.nowMillis !== undefined && options.nowMillis !== null) {
    const now = options.nowMillis;
    expression.registerFunction('millis', () => now);
    expression.registerFunction('now', async (picture, timezone) => {
      if (picture === undefined && timezone === undefined) return formatIso(now, 0);
      return jsonata()('$fromMillis($m, $p, $t)').evaluate(null, { m: now, p: picture, t: timezone });
    });
  }
  return expression;
}

module.exports = { functions, register };
