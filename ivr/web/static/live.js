// Live calls view: keeps the table in step with the server-sent events stream
// and announces started calls, turn changes and ended calls in the aria-live region.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("live-config").textContent);
  var tbody = document.querySelector("#live-calls tbody");
  var announcer = document.getElementById("live-announcer");
  var count = document.getElementById("live-count");
  var connection = document.getElementById("live-connection");
  var known = {};

  Array.prototype.forEach.call(tbody.querySelectorAll("tr[data-call-id]"), function (row) {
    known[row.dataset.callId] = row.cells[4].textContent.trim();
  });

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, key) {
      return values[key] !== undefined ? String(values[key]) : match;
    });
  }

  function announce(message) {
    var line = document.createElement("p");
    line.textContent = message;
    announcer.appendChild(line);
    while (announcer.childNodes.length > 5) {
      announcer.removeChild(announcer.firstChild);
    }
  }

  function cell(row, tag, text) {
    var element = document.createElement(tag);
    element.textContent = text;
    row.appendChild(element);
    return element;
  }

  function render(calls) {
    var seen = {};
    tbody.textContent = "";
    calls.forEach(function (call) {
      var turn = call.current_turn || config.text.none;
      seen[call.id] = turn;
      if (!(call.id in known)) {
        announce(fill(config.text.started, {id: call.id, turn: turn}));
      } else if (known[call.id] !== turn) {
        announce(fill(config.text.turn, {id: call.id, turn: turn}));
      }
      var row = document.createElement("tr");
      row.dataset.callId = call.id;
      var head = cell(row, "th", "");
      head.scope = "row";
      var link = document.createElement("a");
      link.href = config.callUrl.replace("CALL_ID", encodeURIComponent(call.id));
      link.textContent = call.id;
      head.appendChild(link);
      cell(row, "td", call.started_time);
      cell(row, "td", call.channel);
      cell(row, "td", call.caller_id || "—");
      cell(row, "td", turn);
      tbody.appendChild(row);
    });
    Object.keys(known).forEach(function (id) {
      if (!(id in seen)) {
        announce(fill(config.text.ended, {id: id}));
      }
    });
    known = seen;
    var countText = fill(config.text.count, {num: calls.length});
    if (count.textContent !== countText) {
      count.textContent = countText;
    }
  }

  var source = new EventSource(config.stream);
  source.addEventListener("calls", function (event) {
    if (connection.textContent !== config.text.live) {
      connection.textContent = config.text.live;
    }
    render(JSON.parse(event.data));
  });
  source.onerror = function () {
    connection.textContent = config.text.lost;
  };
})();
