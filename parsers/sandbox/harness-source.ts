/**
 * The code that runs inside every parser isolate around the parser itself. It is a string (not a
 * serialised TS function) so no build step can inject helpers into it.
 *
 * Invariants:
 * - One isolate crossing per batch: `__tagoRun(json)` takes a JSON array of messages
 *   `{payload, raw_payload, device}` and returns one JSON string, an array with one outcome per message,
 *   in order: `{ok:true, value, logs}` or `{ok:false, kind:'throw'|'shape'|'memory', name, message, stack, logs}`.
 * - Each message gets a fresh deep copy of its input (parsed from the JSON), so one message cannot see or
 *   change another's payload; a throw or a bad result fails only that message.
 * - Outcomes are serialised as each message finishes and kept in `progress`, so when the host cuts a
 *   batch off at its time limit `__tagoProgress()` hands back the finished ones and the host knows which
 *   message was running.
 * - Console output is captured per message (bounded), returned with the outcome, never printed here.
 */
export const harnessSource = `
(function (g) {
  'use strict';
  var stringify = JSON.stringify, parse = JSON.parse, isArray = Array.isArray;
  var MAX_LINES = 200, MAX_LINE_CHARS = 4000;
  var logs = null;
  var progress = null;

  function format(v) {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return v.stack || String(v);
    try { var s = stringify(v); return s === undefined ? String(v) : s; } catch (e) { return String(v); }
  }
  function capture(level, args) {
    if (logs === null) return;
    if (logs.length >= MAX_LINES) {
      if (logs.length === MAX_LINES) logs.push(['error', '(console output truncated at ' + MAX_LINES + ' lines)']);
      return;
    }
    var parts = [];
    for (var i = 0; i < args.length; i++) parts.push(format(args[i]));
    var line = parts.join(' ');
    if (line.length > MAX_LINE_CHARS) line = line.slice(0, MAX_LINE_CHARS) + '…';
    logs.push([level, line]);
  }
  g.console = {
    log: function () { capture('log', arguments); },
    info: function () { capture('log', arguments); },
    debug: function () { capture('debug', arguments); },
    warn: function () { capture('error', arguments); },
    error: function () { capture('error', arguments); },
  };

  function typeName(v) {
    if (v === null) return 'null';
    if (isArray(v)) return 'an array';
    return typeof v === 'object' ? 'an object' : 'a ' + typeof v;
  }
  // The pipeline validates record fields; here only the shape TagoIO requires when the code ends.
  function checkShape(p) {
    if (!isArray(p)) return 'payload must be an array of records when the parser ends, got ' + typeName(p);
    for (var i = 0; i < p.length; i++) {
      var r = p[i];
      if (r === null || typeof r !== 'object' || isArray(r)) return 'payload[' + i + '] is ' + typeName(r) + ', not a record object';
    }
    return null;
  }
  function describe(e) {
    if (e instanceof Error || (e !== null && typeof e === 'object' && typeof e.message === 'string')) {
      var memory = e instanceof RangeError && /allocation failed|Invalid array buffer length|Invalid typed array length/.test(e.message);
      return { ok: false, kind: memory ? 'memory' : 'throw', name: String(e.name), message: String(e.message), stack: String(e.stack || '') };
    }
    return { ok: false, kind: 'throw', message: format(e), stack: '' };
  }

  g.__tagoRun = function (json) {
    var parser = g.__tagoParser;
    var messages = parse(json);
    progress = [];
    for (var i = 0; i < messages.length; i++) {
      var m = messages[i];
      logs = [];
      var outcome;
      try {
        var result = parser(m.payload, m.raw_payload, m.device);
        var problem = checkShape(result);
        outcome = problem === null ? { ok: true, value: result } : { ok: false, kind: 'shape', message: problem };
      } catch (e) {
        outcome = describe(e);
      }
      outcome.logs = logs;
      logs = null;
      var text;
      try { text = stringify(outcome); } catch (e) {
        text = stringify({ ok: false, kind: 'shape', message: 'payload is not JSON-serialisable: ' + format(e && e.message), logs: outcome.logs });
      }
      progress.push(text);
    }
    var out = '[' + progress.join(',') + ']';
    progress = null;
    return out;
  };
  g.__tagoProgress = function () {
    var out = '[' + (progress || []).join(',') + ']';
    progress = null;
    return out;
  };
})(globalThis);
`;
