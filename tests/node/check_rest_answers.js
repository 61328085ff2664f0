// Checks every REST answer an integration run received against
// docs/openapi.json, with ajv (JSON Schema draft 2020-12, the dialect of
// OpenAPI 3.1) and ajv-formats:
//
//   node tests/node/check_rest_answers.js docs/openapi.json ANSWERS.ndjson
//
// ANSWERS.ndjson has one JSON object a line, appended by the C test support
// (tests/integration/support/rest.c) and by tests/docs_examples.sh:
//   {"source": "it_rest_chargers", "method": "GET", "path": "/v1/chargers?perPage=2",
//    "status": 200, "headers": "HTTP/1.1 200 OK\r\nContent-Type: ...\r\n...", "body": "..."}
// an answer, checked against the operation its method and path resolve to
// (path templates of the document, after the percent-decoding and dot-segment
// removal the gateway's HTTP library does): the status must be documented
// for the operation (or its NXX / default), the Content-Type one the
// response documents, the body valid against that media type's schema (or
// empty when the response has no content), and every documented response
// header present valid against its schema. An answer on a route or method
// the document does not describe must be a 4xx/5xx error body (schema Error,
// its "status" the HTTP status). Requests to the operational endpoints
// (/healthz, /readyz, /metrics) and to the chargers' websocket path (/ocpp/)
// are not REST answers and are only counted, as is any request with an
// Upgrade header (a websocket upgrade, the chargers' side: recorded with
// "upgrade": true).
//   {"source": "...", "schema": "Session", "value": {...}}
// a value a test asked to check against #/components/schemas/Session
// (api_check_schema).
//
// One answer is not the gateway's and is exempt, as docs/api.md says: a
// request whose target has a '%' not followed by two hex digits is refused
// by the HTTP library (libwebsockets 4.1.6) itself, with 403 and an HTML
// body, before the gateway sees it. Only that exact shape is let through.
//
// Two rules are stricter than plain JSON Schema, as the API promises
// (docs/api.md): an object schema that lists properties and says
// nothing of others is closed (no member the document does not describe:
// `unevaluatedProperties: false` is added; the parts of an allOf stay open,
// the schema holding the allOf is closed), and a date-time is UTC with Z.
//
// Before the answers, a self-test: answers built to break a oneOf (no
// branch, and both branches), an anyOf, a pattern, an enum, a format, a
// closed object, a date-time, the Error shape and the documented statuses
// must each be refused, and good ones accepted, so a validator that stopped
// checking fails the run instead of passing it.
//
// Prints a summary ("rest answers: N checked against docs/openapi.json, M
// violations"), each violation with its source, request and the schema
// errors, and exits 1 on any violation, 2 on a usage or set-up error.
'use strict';

const fs = require('fs');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');
const { fullFormats } = require('ajv-formats/dist/formats');

const DOC_ID = 'openapi.json';
const NOT_REST = [/^\/(healthz|readyz|metrics)$/, /^\/ocpp(\/|$)/];
const MAX_SHOWN = 60;

// ------------------------------------------------------------------ the document as schemas

function componentRef(ref) {
  const m = /^#\/components\/schemas\/([^/]+)$/.exec(ref);
  if (!m) throw new Error(`docs/openapi.json: unsupported $ref ${ref}`);
  return m[1];
}

// A copy of a schema with its $refs made absolute ("openapi.json#/$defs/X")
// and the closed-world rule applied. open: leave this level open (an allOf part).
function prepare(schema, open) {
  if (Array.isArray(schema)) return schema.map((s) => prepare(s, false));
  if (!schema || typeof schema !== 'object') return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === '$ref') {
      out.$ref = `${DOC_ID}#/$defs/${componentRef(v)}${open ? '~open' : ''}`;
    } else if (k === 'allOf') {
      out.allOf = v.map((part) => prepare(part, true));
    } else if (k === 'properties' || k === '$defs' || k === 'patternProperties' || k === 'dependentSchemas') {
      out[k] = {};
      for (const [name, sub] of Object.entries(v)) out[k][name] = prepare(sub, false);
    } else if (['items', 'additionalProperties', 'unevaluatedProperties', 'not', 'contains',
      'propertyNames', 'if', 'then', 'else', 'prefixItems', 'oneOf', 'anyOf'].includes(k)) {
      out[k] = prepare(v, false);
    } else {
      out[k] = v;                     // keywords and annotations
    }
  }
  const describes = out.properties || out.allOf;
  if (!open && describes && !('additionalProperties' in out) && !('unevaluatedProperties' in out))
    out.unevaluatedProperties = false;
  return out;
}

function makeAjv(doc) {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
  addFormats(ajv);
  // docs/api.md: every time is ISO 8601 in UTC with Z
  const rfc3339 = fullFormats['date-time'].validate;
  ajv.addFormat('date-time', {
    type: 'string',
    validate: (s) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(s) && rfc3339(s),
  });
  // OpenAPI 3.1's own annotation keywords
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
  const defs = {};
  for (const [name, s] of Object.entries((doc.components && doc.components.schemas) || {})) {
    defs[name] = prepare(s, false);
    defs[`${name}~open`] = prepare(s, true);
  }
  ajv.addSchema({ $id: DOC_ID, $defs: defs });
  return ajv;
}

function resolveRef(doc, obj) {
  for (let i = 0; obj && obj.$ref && i < 10; i++) {
    const parts = obj.$ref.replace(/^#\//, '').split('/');
    obj = parts.reduce((o, p) => (o ? o[p.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), doc);
  }
  return obj;
}

// ------------------------------------------------------------------ requests to operations

// The path as the gateway routes it: percent-decoded, "//" and dot segments
// removed (libwebsockets does this before the router sees it), no trailing '/'.
function routedPath(raw) {
  let p = String(raw || '').split(/[?#]/)[0];
  try { p = decodeURIComponent(p); } catch (e) { /* bad encoding: the gateway answers 400 */ }
  const out = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') { out.pop(); continue; }
    out.push(seg);
  }
  return '/' + out.join('/');
}

function compileRoutes(doc) {
  return Object.keys(doc.paths || {}).map((tpl) => ({
    tpl,
    segs: tpl.split('/').filter(Boolean).map((s) => (/^\{.+\}$/.test(s) ? null : s)),
  }));
}

// The most specific template fitting the path (a literal beats a parameter), or null.
function matchRoute(routes, path) {
  const segs = path.split('/').filter(Boolean);
  let best = null;
  for (const r of routes) {
    if (r.segs.length !== segs.length) continue;
    if (!r.segs.every((s, i) => s === null || s === segs[i])) continue;
    if (!best) { best = r; continue; }
    for (let i = 0; i < segs.length; i++) {
      if ((r.segs[i] === null) !== (best.segs[i] === null)) {
        if (r.segs[i] !== null) best = r;
        break;
      }
    }
  }
  return best;
}

// ------------------------------------------------------------------ one answer

function parseHeaders(block) {
  const h = {};
  const lines = String(block || '').split(/\r?\n/);
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    h[name] = name in h ? `${h[name]}, ${value}` : value;
  }
  return h;
}

function errorsText(errors) {
  return (errors || []).slice(0, 8).map((e) => {
    const where = e.instancePath || '(body)';
    const extra = e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : '';
    return `${where} ${e.message}${extra}`;
  }).join('; ');
}

class Checker {
  constructor(doc) {
    this.doc = doc;
    this.ajv = makeAjv(doc);
    this.routes = compileRoutes(doc);
    this.cache = new Map();
  }

  validator(key, schemaFn) {
    let v = this.cache.get(key);
    if (!v) {
      v = this.ajv.compile(schemaFn());
      this.cache.set(key, v);
    }
    return v;
  }

  named(name) {
    if (!this.doc.components.schemas[name]) return null;
    return this.validator(`#${name}`, () => ({ $ref: `${DOC_ID}#/$defs/${name}` }));
  }

  // Problems with the value against the named component schema ([] if none).
  checkNamed(name, value) {
    const v = this.named(name);
    if (!v) return [`no schema #/components/schemas/${name} in the document`];
    return v(value) ? [] : [`not a valid ${name}: ${errorsText(v.errors)}`];
  }

  checkBody(key, schema, text) {
    let value;
    try {
      value = JSON.parse(text);
    } catch (e) {
      return [`the body is not JSON: ${JSON.stringify(String(text).slice(0, 120))}`];
    }
    const v = this.validator(key, () => prepare(schema, false));
    return v(value) ? [] : [errorsText(v.errors)];
  }

  // The error body every refusal carries (an answer the document has no operation for).
  checkBareError(a, headers, why) {
    if (a.status < 400) return [`HTTP ${a.status} on ${why}`];
    const ct = (headers['content-type'] || '').split(';')[0].trim();
    if (ct !== 'application/json') return [`HTTP ${a.status} on ${why} with Content-Type "${ct}", not an Error body`];
    let body;
    try { body = JSON.parse(a.body); } catch (e) { return [`HTTP ${a.status} on ${why}: the body is not JSON`]; }
    const errs = this.checkNamed('Error', body);
    if (body && body.status !== a.status) errs.push(`"status" ${body.status} is not the HTTP status ${a.status}`);
    return errs;
  }

  // Problems with one recorded answer ([] if none), or null when it is not a REST answer.
  checkAnswer(a) {
    const method = String(a.method || '').toUpperCase();
    const path = routedPath(a.path);
    if (a.upgrade || NOT_REST.some((re) => re.test(path))) return null;
    const headers = parseHeaders(a.headers);
    if (/%(?![0-9A-Fa-f]{2})/.test(String(a.path)) && a.status === 403 &&
        /^text\/html/.test(headers['content-type'] || ''))
      return [];                      // the HTTP library's own refusal (docs/api.md)
    const route = matchRoute(this.routes, path);
    if (!route) return this.checkBareError(a, headers, 'a route docs/openapi.json does not describe');
    const item = resolveRef(this.doc, this.doc.paths[route.tpl]);
    const head = method === 'HEAD';
    const op = item[head ? 'get' : method.toLowerCase()];
    if (!op || ['parameters', 'summary', 'description', 'servers'].includes(method.toLowerCase()))
      return this.checkBareError(a, headers, `${method} ${route.tpl}, which docs/openapi.json does not describe`);
    const responses = op.responses || {};
    const st = String(a.status);
    const key = st in responses ? st : `${st[0]}XX` in responses ? `${st[0]}XX` : 'default' in responses ? 'default' : null;
    if (!key) return [`HTTP ${st} is not documented for ${method} ${route.tpl} (documented: ${Object.keys(responses).join(', ')})`];
    const resp = resolveRef(this.doc, responses[key]);
    const errs = [];
    for (const [name, hdef0] of Object.entries(resp.headers || {})) {
      const hdef = resolveRef(this.doc, hdef0);
      const lname = name.toLowerCase();
      if (!(lname in headers)) {
        if (hdef.required) errs.push(`header ${name} is missing`);
        continue;
      }
      if (lname === 'content-type' || !hdef.schema) continue;
      const schema = prepare(hdef.schema, false);
      let value = headers[lname];
      const types = [].concat(schema.type || []);
      if (types.includes('integer') || types.includes('number')) {
        if (!/^-?\d+(\.\d+)?$/.test(value)) { errs.push(`header ${name}: "${value}" is not a number`); continue; }
        value = Number(value);
      }
      const v = this.validator(`h:${route.tpl}:${method}:${key}:${name}`, () => schema);
      if (!v(value)) errs.push(`header ${name}: "${headers[lname]}" ${errorsText(v.errors)}`);
    }
    const content = resp.content || {};
    const types = Object.keys(content);
    const body = a.body || '';
    if (head) return errs;
    if (types.length === 0) {
      if (body.length) errs.push(`HTTP ${st} has no content in the document, but the answer has a body`);
      return errs;
    }
    const ct = (headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    const media = types.find((t) => t.toLowerCase() === ct) ||
      types.find((t) => t.endsWith('/*') && ct.startsWith(t.slice(0, -1))) || types.find((t) => t === '*/*');
    if (!media) {
      errs.push(`Content-Type "${ct}" is not one of ${types.join(', ')}`);
      return errs;
    }
    const mt = content[media];
    if (media === 'application/x-ndjson' && mt.schema) {
      // an export: one item a line, each checked against the item's schema
      const lines = body.split('\n');
      if (lines.pop() !== '') errs.push('the NDJSON body does not end with a line end');
      lines.forEach((line, i) => {
        if (errs.length < 5)
          errs.push(...this.checkBody(`b:${route.tpl}:${method}:${key}:${media}`, mt.schema, line)
            .map((e) => `line ${i + 1}: ${e}`));
      });
    } else if (/json/.test(media) && mt.schema) {
      errs.push(...this.checkBody(`b:${route.tpl}:${method}:${key}:${media}`, mt.schema, body));
    }
    return errs;
  }
}

// ------------------------------------------------------------------ self-test

// Answers that must be refused, and ones that must pass, on the real
// document (and on a small one for anyOf, which the real one does not use).
function selfTest(doc) {
  const failures = [];
  const c = new Checker(doc);
  const json = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n';
  const session = {
    id: 1, chargerId: 'c', connectorId: 1, transactionId: 7, idTag: 't', status: 'completed', energy: 1,
    startTime: '2026-01-01T00:00:00Z', endTime: '2026-01-01T01:00:00Z', chargingDuration: 3600,
    meterStart: 0, meterStop: 1,
  };
  // fill what the document requires of a Session beyond the fields above
  const sv = c.named('Session');
  if (!sv(session)) {
    for (const e of sv.errors) if (e.keyword === 'required') session[e.params.missingProperty] = null;
  }
  const stop = { commandId: '01890a5d-ac96-774b-bcce-b302099a8057', status: 'Accepted', sessionId: 1, transactionId: 7 };
  const answer = (path, status, body, method = 'POST', hdrs = json) =>
    ({ method, path, status, headers: hdrs.replace('200 OK', `${status} X`), body: JSON.stringify(body) });
  const must = (what, a, ok) => {
    const errs = c.checkAnswer(a);
    if (ok && errs.length) failures.push(`${what}: refused: ${errs.join('; ')}`);
    if (!ok && !errs.length) failures.push(`${what}: accepted`);
  };
  const stopPath = '/v1/sessions/1/stop';
  must('a stop answered with a command result', answer(stopPath, 200, stop), true);
  must('a stop answered with neither result nor session (oneOf)', answer(stopPath, 200, { status: 'Accepted' }), false);
  must('a stop result with an undocumented member (closed object)', answer(stopPath, 200, { ...stop, extra: 1 }), false);
  must('a stop result with status "Maybe" (enum)', answer(stopPath, 200, { ...stop, status: 'Maybe' }), false);
  must('a stop result with commandId "x" (format uuid)', answer(stopPath, 200, { ...stop, commandId: 'x' }), false);
  must('a session with a time not in UTC (date-time with Z)',
    answer('/v1/sessions/1', 200, { ...session, startTime: '2026-01-01T01:00:00+01:00' }, 'GET'), false);
  must('an undocumented status', answer(stopPath, 418, stop), false);
  must('a 404 whose body is not an Error', answer('/v1/nowhere', 404, { oops: true }, 'GET'), false);
  const ndjson = 'HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n';
  const lines = (...items) => items.map((i) => JSON.stringify(i) + '\n').join('');
  must('an NDJSON export of sessions',
    { method: 'GET', path: '/v1/sessions', status: 200, headers: ndjson, body: lines(session, session) }, true);
  must('an NDJSON export with a line that is no session',
    { method: 'GET', path: '/v1/sessions', status: 200, headers: ndjson, body: lines(session, { id: 'x' }) }, false);
  must('a CSV export',
    { method: 'GET', path: '/v1/sessions', status: 200,
      headers: 'HTTP/1.1 200 OK\r\nContent-Type: text/csv; charset=utf-8\r\n', body: 'id\r\n1\r\n' }, true);
  const html = 'HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\n';
  must('the HTTP library\'s HTML 403 for a malformed escape',
    { method: 'GET', path: '/v1/tokens/a%ZZ', status: 403, headers: html, body: '<html></html>' }, true);
  must('an HTML 403 for a well-formed path',
    { method: 'GET', path: '/v1/tokens/a%41', status: 403, headers: html, body: '<html></html>' }, false);
  // the smallest valid Charger: its required members, each the first type the document allows
  const charger = {};
  const cschema = doc.components.schemas.Charger || {};
  for (const name of cschema.required || []) {
    const p = (cschema.properties || {})[name] || {};
    const t = [].concat(p.type || 'null');
    charger[name] = p.enum ? p.enum[0] : t.includes('null') ? null : t[0] === 'boolean' ? false
      : t[0] === 'integer' || t[0] === 'number' ? (p.minimum || 0) : t[0] === 'string' ? 'c'
        : t[0] === 'array' ? [] : t[0] === 'object' ? {} : null;
  }
  if (c.checkNamed('Charger', charger).length === 0) {
    must('a created charger with a 40-hex-digit key',
      answer('/v1/chargers', 201, { ...charger, authorizationKey: 'ab'.repeat(20) }), true);
    must('a created charger whose key breaks the pattern',
      answer('/v1/chargers', 201, { ...charger, authorizationKey: 'XYZ' }), false);
  } else {
    failures.push(`could not build a valid Charger for the pattern case: ${c.checkNamed('Charger', charger).join('; ')}`);
  }
  // anyOf, and a oneOf value that fits both branches, on a document of its own
  const ok200 = (schema) => ({ get: { responses: { 200: { content: { 'application/json': { schema } } } } } });
  const mini = {
    openapi: '3.1.0',
    paths: {
      '/v1/any': ok200({ anyOf: [{ type: 'integer' }, { type: 'string', pattern: '^a' }] }),
      '/v1/one': ok200({ oneOf: [{ type: 'integer' }, { type: 'number', minimum: 0 }] }),
    },
    components: { schemas: {} },
  };
  const m = new Checker(mini);
  const mini_must = (what, path, value, ok) => {
    const errs = m.checkAnswer(answer(path, 200, value, 'GET'));
    if (ok && errs.length) failures.push(`${what}: refused: ${errs.join('; ')}`);
    if (!ok && !errs.length) failures.push(`${what}: accepted`);
  };
  mini_must('anyOf: a value of one branch', '/v1/any', 'abc', true);
  mini_must('anyOf: a value of no branch', '/v1/any', 'xyz', false);
  mini_must('oneOf: a value of exactly one branch', '/v1/one', 1.5, true);
  mini_must('oneOf: a value of both branches', '/v1/one', 3, false);
  return failures;
}

// ------------------------------------------------------------------ main

function main() {
  const [docFile, answersFile] = process.argv.slice(2);
  if (!docFile || !answersFile) {
    console.error('usage: node check_rest_answers.js docs/openapi.json ANSWERS.ndjson');
    return 2;
  }
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(docFile, 'utf8'));
  } catch (e) {
    console.error(`rest answers: cannot read ${docFile}: ${e.message}`);
    return 2;
  }
  const broken = selfTest(doc);
  if (broken.length) {
    console.error('rest answers: the validator\'s self-test failed (it would not catch violations):');
    for (const b of broken) console.error(`  ${b}`);
    return 2;
  }
  const checker = new Checker(doc);
  const text = fs.existsSync(answersFile) ? fs.readFileSync(answersFile, 'utf8') : '';
  let checked = 0, other = 0, unanswered = 0;
  const perSource = new Map();
  const violations = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let a;
    try {
      a = JSON.parse(line);
    } catch (e) {
      violations.push(`line ${i + 1}: not JSON: ${line.slice(0, 100)}`);
      return;
    }
    const src = a.source || '?';
    let errs, what;
    if (a.schema) {
      what = `${src}: value checked as ${a.schema}${a.what ? ` (${a.what})` : ''}`;
      errs = checker.checkNamed(a.schema, a.value);
    } else if (!(a.status > 0)) {
      unanswered++;
      return;
    } else {
      what = `${src}: ${a.method} ${a.path} -> ${a.status}`;
      errs = checker.checkAnswer(a);
      if (errs === null) { other++; return; }
    }
    checked++;
    perSource.set(src, (perSource.get(src) || 0) + 1);
    if (errs.length) {
      const body = a.schema ? JSON.stringify(a.value) : String(a.body || '');
      violations.push(`${what}: ${errs.join('; ')}\n      body: ${body.slice(0, 300)}`);
    }
  });
  for (const v of violations.slice(0, MAX_SHOWN)) console.log(`  VIOLATION ${v}`);
  if (violations.length > MAX_SHOWN) console.log(`  ... and ${violations.length - MAX_SHOWN} more`);
  const sources = [...perSource.entries()].map(([s, n]) => `${s} ${n}`).join(', ');
  console.log(`rest answers: ${checked} checked against ${docFile} (ajv, draft 2020-12)` +
    `${sources ? `: ${sources}` : ''}; ${other} to non-REST paths, ${unanswered} unanswered not checked`);
  console.log(`rest answers: ${violations.length} violation${violations.length === 1 ? '' : 's'}`);
  return violations.length ? 1 : 0;
}

if (require.main === module) process.exitCode = main();

module.exports = { Checker, selfTest, routedPath, matchRoute };
