// Cellbridge staff console: the only script. It follows a lock's confirmations live
// (Server-Sent Events) on its page; everything else works without it.
"use strict";
(function () {
  function show(progress) {
    document.getElementById("confirmed").textContent = String(progress.confirmed);
    document.getElementById("total").textContent = String(progress.total);
    var state = document.getElementById("state");
    state.textContent = progress.done ? "All confirmed."
      : progress.given_up ? "Stopped waiting." : "Waiting for the others…";
    var list = document.getElementById("pending");
    list.replaceChildren();
    var names = progress.pending.length ? progress.pending : ["None."];
    names.forEach(function (name) {
      var item = document.createElement("li");
      item.textContent = name;
      list.appendChild(item);
    });
  }
  function follow() {
    var box = document.getElementById("progress");
    if (!box || !window.EventSource) { return; }
    var source = new EventSource(box.getAttribute("data-events"));
    source.addEventListener("progress", function (event) {
      var progress = JSON.parse(event.data);
      show(progress);
      if (progress.done || progress.given_up) { source.close(); }
    });
    source.onerror = function () { source.close(); };
  }
  document.addEventListener("DOMContentLoaded", follow);
})();
