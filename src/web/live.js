// Live updates: the overview's parts from /api/v1/events, the log tail from its stream, and
// the action buttons sending the token this browser was given (kept in sessionStorage).
(function () {
  var updated = document.getElementById("updated");
  if (updated && window.EventSource) {
    var es = new EventSource(updated.getAttribute("data-live"));
    es.addEventListener("overview", function (e) {
      var parts = JSON.parse(e.data);
      document.getElementById("summary").innerHTML = parts.summary;
      document.querySelector("#apps tbody").innerHTML = parts.apps;
      document.getElementById("queues").innerHTML = parts.queues;
      document.getElementById("fleet").innerHTML = parts.fleet;
      updated.textContent = parts.updated;
    });
  }
  var log = document.getElementById("log");
  if (log && window.EventSource) {
    var tail = new EventSource(log.getAttribute("data-tail"));
    tail.addEventListener("line", function (e) {
      var l = JSON.parse(e.data);
      var div = document.createElement("div");
      div.className = l.stream === "err" ? "err" : "out";
      var t = document.createElement("span");
      t.className = "muted";
      t.textContent = (l.time || "") + " ";
      div.appendChild(t);
      div.appendChild(document.createTextNode(l.line));
      var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.appendChild(div);
      if (atEnd) log.scrollTop = log.scrollHeight;
    });
  }
  document.querySelectorAll("form.actions button").forEach(function (b) {
    b.addEventListener("click", function (ev) {
      ev.preventDefault();
      var token = sessionStorage.getItem("tpctl-token") || window.prompt("tpctl web token (the file tpctl web printed)");
      if (!token) return;
      var result = b.form.querySelector(".result");
      result.textContent = b.value + "…";
      fetch(b.getAttribute("formaction"), { method: "POST", headers: { Authorization: "Bearer " + token } })
        .then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); })
        .then(function (x) {
          if (x[0] === 401 || x[0] === 403) sessionStorage.removeItem("tpctl-token");
          else sessionStorage.setItem("tpctl-token", token);
          result.textContent = x[1].ok ? "done: " + b.value : (x[1].error || x[1].output || "failed");
          if (x[1].ok) setTimeout(function () { location.reload(); }, 300);
        })
        .catch(function (e) { result.textContent = String(e); });
    });
  });
})();
