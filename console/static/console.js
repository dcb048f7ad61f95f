// The storage console's only script. Everything works without it; it
// keeps the query page's JSON filter in step with the builder rows, so the
// filter the rows make is visible as it is typed.
"use strict";
(function () {
  var form = document.getElementById("query-form");
  if (!form) { return; }
  var builder = document.getElementById("builder");
  var filter = document.getElementById("q-filter");

  function valueOf(op, text) {
    var v = text.trim();
    if (op === "exists") { return v !== "false"; }
    if (v === "") { return text; }
    try { return JSON.parse(v); } catch (e) { return text; }
  }

  function fromRows() {
    var leaves = [];
    builder.querySelectorAll(".row").forEach(function (row) {
      var field = row.querySelector("input[name=field]").value.trim();
      if (!field) { return; }
      var op = row.querySelector("select[name=op]").value;
      var value = row.querySelector("input[name=value]").value;
      leaves.push({ field: field, operator: op, value: valueOf(op, value) });
    });
    if (leaves.length === 0) { return null; }
    return leaves.length === 1 ? leaves[0] : { and: leaves };
  }

  builder.addEventListener("input", function () {
    var f = fromRows();
    filter.value = f === null ? "" : JSON.stringify(f, null, 2);
  });
})();

// The status page's live tail: the store's changes the principal may read,
// as server-sent events, newest first, at most 100. Text only: every field
// goes in with textContent.
(function () {
  var tail = document.getElementById("tail");
  if (!tail || !window.EventSource) { return; }
  var state = document.getElementById("tail-state");
  var src = new EventSource(tail.getAttribute("data-src"));
  state.textContent = "Waiting for changes…";
  src.addEventListener("open", function () { state.textContent = "Connected: new changes appear below."; });
  src.addEventListener("change", function (e) {
    var ev;
    try { ev = JSON.parse(e.data); } catch (err) { return; }
    var li = document.createElement("li");
    var where = ev.namespace + (ev.key ? " / " + ev.key : "");
    li.textContent = "#" + ev.revision + " " + ev.type + " " + where + (ev.version ? " (v" + ev.version + ")" : "") + " at " + ev.at;
    li.className = "change change-" + ev.type;
    tail.insertBefore(li, tail.firstChild);
    while (tail.children.length > 100) { tail.removeChild(tail.lastChild); }
  });
  src.addEventListener("error", function (e) {
    if (e.data) {
      // The server's message, a JSON string: shown as the text it holds.
      var msg = e.data;
      try { msg = String(JSON.parse(e.data)); } catch (err) { /* shown as sent */ }
      state.textContent = "The live tail stopped: " + msg;
      src.close();
      return;
    }
    if (src.readyState === EventSource.CLOSED) {
      // The server refused the tail (429: as many live tails open as
      // allowed; 503: too many on the server, a shutdown): the browser
      // does not reconnect by itself.
      state.textContent = "The live tail stopped: the server refused it (too many open?). Reload the page to try again.";
      return;
    }
    state.textContent = "Reconnecting…";
  });
})();
