// Editor side of the wayside nodes (a browser script, not run by the agent): the checks their
// dialogs validate with, the device and point pickers built on GET <editor>/wayside/devices
// (the configured devices and their points, flows/nodes/src/editor.ts), and the warning shown
// when a name matches nothing configured. Served by Node-RED as
// resources/@wayside/node-red-nodes/editor.js and loaded by the wayside-editor plugin before
// the nodes; the node dialogs reach it as RED.plugins.getPlugin('wayside-editor').
// The name rules are those of flows/nodes/src/match.ts (flows/nodes/editor.test.ts keeps them equal).
(function () {
  'use strict';

  var DEVICE_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
  var POINT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
  var EVENT_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
  var MODEL_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
  // The agent's own event namespaces (runtime/uplink/protocol.ts): flows may not emit them.
  var AGENT_NAMESPACES = ['device', 'point', 'outbox', 'uplink', 'agent'];
  // What a filter pattern may hold besides the name's own characters.
  var PATTERN_CHARS = { device: /^[a-z0-9._*?-]{1,64}$/, point: /^[A-Za-z0-9._*?-]{1,128}$/, eventType: /^[A-Za-z0-9._:*?-]{1,128}$/ };
  var SHOWN = 8;

  function trim(v) {
    return v === undefined || v === null ? '' : String(v).trim();
  }
  function alternatives(p) {
    return trim(p).split(',').map(trim).filter(function (a) { return a !== ''; });
  }
  function listed(names) {
    return names.length <= SHOWN ? names.join(', ') : names.slice(0, SHOWN).join(', ') + ' and ' + (names.length - SHOWN) + ' more';
  }
  function quoted(v) {
    return '"' + v + '"';
  }
  function isAny(p) {
    p = trim(p);
    return p === '' || p === '*';
  }

  /** The same matcher as the runtime's: "" or "*" any; else comma alternatives with * and ?. */
  function wildcard(pattern) {
    if (isAny(pattern)) return function () { return true; };
    var re = new RegExp(alternatives(pattern).map(function (a) {
      return '^' + a.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$';
    }).join('|'));
    return function (s) { return s !== undefined && re.test(s); };
  }

  // ---- checks: true, or the reason as a string (Node-RED 3+ shows it on the field) ----

  var checks = {
    /** A device id; empty = from msg.device. */
    device: function (v) {
      v = trim(v);
      if (v === '') return true;
      return DEVICE_RE.test(v) || 'not a device id: ' + quoted(v) + ' (1-64 lowercase letters, digits, ".", "_", "-")';
    },
    /** A point name; empty = from msg.point. */
    point: function (v) {
      v = trim(v);
      if (v === '') return true;
      return POINT_RE.test(v) || 'not a point name: ' + quoted(v) + ' (1-128 letters, digits, ".", "_", "-")';
    },
    /** A `wayside in` filter: empty or "*", or names with * and ? separated by commas. */
    pattern: function (v, kind) {
      if (isAny(v)) return true;
      var chars = PATTERN_CHARS[kind];
      if (/,\s*,|^\s*,|,\s*$/.test(v)) return 'an empty name between commas in ' + quoted(trim(v));
      var alts = alternatives(v);
      for (var i = 0; i < alts.length; i++) {
        if (!chars.test(alts[i])) {
          return (kind === 'eventType' ? 'not an event type' : 'not a ' + kind) + ' name or pattern: ' + quoted(alts[i]) +
            (kind === 'device' ? ' (lowercase letters, digits, ".", "_", "-", with * and ?)' : ' (letters, digits, ".", "_", "-"' + (kind === 'eventType' ? ', ":"' : '') + ', with * and ?)');
        }
      }
      return true;
    },
    /** An event type flows may emit; `required` when the node makes the event itself. */
    eventType: function (v, required) {
      v = trim(v);
      if (v === '') return required ? 'an event needs a type, e.g. "air.pm25_high" (or choose "auto" and send msg.event)' : true;
      if (!EVENT_TYPE_RE.test(v)) return 'not an event type: ' + quoted(v) + ' (letters, digits, ".", "_", ":", "-", like "air.pm25_high")';
      var dot = v.indexOf('.');
      if (dot > 0 && AGENT_NAMESPACES.indexOf(v.slice(0, dot)) >= 0) return quoted(v) + ' is in the agent\'s own namespace "' + v.slice(0, dot) + '." (device., point., outbox., uplink., agent. are reserved)';
      return true;
    },
    /** Empty (the agent's default) or a number > 0 and <= max. */
    positive: function (v, what, max, unit) {
      v = trim(v);
      if (v === '') return true;
      var n = Number(v);
      if (!isFinite(n)) return what + ': not a number: ' + quoted(v);
      if (n <= 0) return what + ' must be more than 0 (empty = the agent\'s default), got ' + v;
      if (max !== undefined && n > max) return what + ' must be at most ' + max + (unit ? ' ' + unit : '') + ', got ' + v;
      return true;
    },
    /** Empty (0.5, or msg.thresholds) or 0..1. */
    threshold: function (v) {
      v = trim(v);
      if (v === '') return true;
      var n = Number(v);
      return (isFinite(n) && n >= 0 && n <= 1) || 'threshold: a number from 0 to 1, got ' + quoted(v);
    },
    /** Empty (msg.model) or a model name. */
    model: function (v) {
      v = trim(v);
      if (v === '') return true;
      return MODEL_NAME_RE.test(v) || 'not a model name: ' + quoted(v) + ' (see "wayside models list")';
    },
    /** `wayside in` must take something. */
    takes: function (readings, events, summaries) {
      return readings || events || summaries ? true : 'tick at least one of readings, events, summaries: the node would send nothing';
    },
    /** A unit string as a reading carries it. */
    unit: function (v) {
      return trim(v).length <= 32 || 'a unit of at most 32 characters';
    },
  };

  // ---- what the configured devices say about a device/point pair ----

  function pointText(p) {
    var bits = [];
    if (p.unit) bits.push(p.unit);
    if (p.type) bits.push(p.type);
    if (p.min !== undefined || p.max !== undefined) bits.push((p.min !== undefined ? p.min : '') + '..' + (p.max !== undefined ? p.max : ''));
    bits.push(p.writable ? 'writable' : 'read-only');
    return bits.join(' · ');
  }

  /**
   * The warning for a device/point pair given the configured devices, or '' when all is well.
   * opts.patterns: the fields are `wayside in` filters; opts.writable: the point is written.
   */
  function warning(devices, device, point, opts) {
    opts = opts || {};
    device = trim(device);
    point = trim(point);
    var matched = devices;
    if (!isAny(device) && checks[opts.patterns ? 'pattern' : 'device'](device, 'device') === true) {
      var m = wildcard(device);
      matched = devices.filter(function (d) { return m(d.id); });
      if (matched.length === 0) {
        var ids = devices.map(function (d) { return d.id; });
        return (opts.patterns ? 'No configured device matches ' : 'No configured device is called ') + quoted(device) + '. ' +
          (ids.length ? 'Configured: ' + listed(ids) + '.' : 'This gateway has no devices configured.') + (opts.note ? ' ' + opts.note : '');
      }
    }
    if (isAny(point) || checks[opts.patterns ? 'pattern' : 'point'](point, 'point') !== true) return '';
    // Devices whose driver cannot tell its points take any point name.
    if (matched.some(function (d) { return !d.points; })) return '';
    var pm = wildcard(point);
    var hits = [];
    matched.forEach(function (d) {
      d.points.forEach(function (p) { if (pm(p.name)) hits.push({ device: d, point: p }); });
    });
    var names = matched.map(function (d) { return d.id; });
    if (hits.length === 0) {
      var pts = [];
      matched.forEach(function (d) { d.points.forEach(function (p) { if (pts.indexOf(p.name) < 0) pts.push(p.name); }); });
      if (isAny(device) && opts.patterns) return 'No point of any configured device matches ' + quoted(point) + '.';
      return (matched.length === 1 ? 'Device ' + quoted(names[0]) + ' has no point ' : 'No point of ' + listed(names) + ' matches ') + quoted(point) + '. ' +
        (pts.length ? (matched.length === 1 ? 'Its points: ' : 'Their points: ') + listed(pts) + '.' : 'It reports no points.');
    }
    if (opts.writable && matched.length === 1 && !hits.some(function (h) { return h.point.writable; })) {
      var writable = matched[0].points.filter(function (p) { return p.writable; }).map(function (p) { return p.name; });
      return 'Point ' + quoted(point) + ' of ' + quoted(names[0]) + ' is not writable. ' + (writable.length ? 'Writable: ' + listed(writable) + '.' : 'The device has no writable points.');
    }
    return '';
  }

  /** The term being typed: the whole field, or its last comma alternative for filters. */
  function split(text, multi) {
    text = text === undefined || text === null ? '' : String(text);
    if (!multi) return { prefix: '', term: text.trim() };
    var i = text.lastIndexOf(',');
    return i < 0 ? { prefix: '', term: text.trim() } : { prefix: text.slice(0, i + 1), term: text.slice(i + 1).trim() };
  }

  /** Completions for a device field: { value, label, detail }. */
  function deviceCompletions(devices, text, multi) {
    var s = split(text, multi);
    var term = s.term.toLowerCase();
    return devices
      .filter(function (d) { return term === '' || term === '*' || d.id.toLowerCase().indexOf(term) >= 0; })
      .map(function (d) {
        return { value: s.prefix + d.id, label: d.id, detail: (d.driver || '') + (d.points ? ' · ' + d.points.length + ' points' : '') };
      });
  }

  /** Completions for a point field: the points of the devices the device field names. */
  function pointCompletions(devices, deviceText, text, opts) {
    opts = opts || {};
    var dm = opts.multi ? wildcard(deviceText) : isAny(deviceText) ? function () { return true; } : function (id) { return id === trim(deviceText); };
    var s = split(text, opts.multi);
    var term = s.term.toLowerCase();
    var seen = {};
    var out = [];
    devices.filter(function (d) { return dm(d.id) && d.points; }).forEach(function (d) {
      d.points.forEach(function (p) {
        if (opts.writable && !p.writable) return;
        if (term !== '' && term !== '*' && p.name.toLowerCase().indexOf(term) < 0) return;
        if (seen[p.name]) {
          seen[p.name].devices.push(d.id);
          return;
        }
        seen[p.name] = { value: s.prefix + p.name, label: p.name, detail: pointText(p), devices: [d.id] };
        out.push(seen[p.name]);
      });
    });
    out.forEach(function (c) {
      if (c.devices.length > 1 || isAny(deviceText)) c.detail += ' · ' + listed(c.devices);
    });
    return out;
  }

  var api = {
    checks: checks,
    wildcard: wildcard,
    warning: warning,
    deviceCompletions: deviceCompletions,
    pointCompletions: pointCompletions,
    pointText: pointText,
    /** The value of a dialog field while its dialog is open, else the node's own. */
    field: field,
    picker: picker,
    DEVICES_URL: 'wayside/devices',
  };

  // ---- the editor parts (jQuery and Node-RED's widgets; not used by the unit tests) ----

  function field(node, name) {
    var input = typeof $ === 'function' ? $('#node-input-' + name) : { length: 0 };
    if (input.length === 0) return node[name];
    return input.attr('type') === 'checkbox' ? input.prop('checked') : input.val();
  }

  /**
   * Device and point pickers in an open dialog: autocomplete on the fields (type, or press the
   * arrow button / the down key, to see the list) and a warning line under the point field.
   * opts: { device: '#id', point: '#id' (optional), multi (comma lists), patterns (filters),
   * writable (a written point), note (added to an unknown-device warning) }.
   */
  function picker(opts) {
    var state = { devices: null, error: null };
    var warn = $('<div class="form-tips wayside-warning" style="display:none; margin-bottom: 12px;"><i class="fa fa-exclamation-triangle"></i> <span></span></div>');
    var last = $(opts.point || opts.device).closest('.form-row');
    warn.insertAfter(last);

    var update = function () {
      var text = '';
      if (state.error) text = 'The device list is not available (' + state.error + '): names cannot be checked.';
      else if (state.devices) text = warning(state.devices, $(opts.device).val(), opts.point ? $(opts.point).val() : '', opts);
      warn.find('span').text(text);
      warn.toggle(text !== '');
    };

    var ready = $.ajax({ url: api.DEVICES_URL, dataType: 'json', cache: false }).then(
      function (body) {
        state.devices = (body && body.devices) || [];
        update();
      },
      function (xhr) {
        state.error = 'HTTP ' + (xhr && xhr.status);
        update();
      },
    );

    var label = function (c) {
      var el = $('<div style="display:flex; justify-content:space-between; gap:12px; min-width:0;"></div>');
      $('<span class="red-ui-autoComplete-completion" style="flex:0 0 auto;"></span>').text(c.label).appendTo(el);
      $('<span style="opacity:0.7; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; min-width:0;"></span>').text(c.detail || '').attr('title', c.detail || '').appendTo(el);
      return { value: c.value, label: el };
    };
    var attach = function (sel, complete) {
      var input = $(sel);
      input.autoComplete({
        minLength: 0,
        search: function (val, done) {
          ready.always(function () { done(state.devices ? complete(val).map(label) : []); });
        },
      });
      // A button that opens the list, like a drop-down.
      input.css('width', 'calc(70% - 40px)');
      $('<button type="button" class="red-ui-button wayside-pick" style="margin-left: 4px;" title="pick from the configured devices"><i class="fa fa-caret-down"></i></button>')
        .insertAfter(input)
        .on('click', function (e) {
          e.preventDefault();
          input.trigger('focus');
          input.trigger($.Event('keyup', { keyCode: 40 }));
        });
      input.on('change input', update);
    };
    attach(opts.device, function (val) { return deviceCompletions(state.devices, val, opts.multi); });
    if (opts.point) attach(opts.point, function (val) { return pointCompletions(state.devices, $(opts.device).val(), val, opts); });
    return { update: update, ready: ready };
  }

  if (typeof RED !== 'undefined' && RED.plugins) RED.plugins.registerPlugin('wayside-editor', api);
})();
