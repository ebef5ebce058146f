// The console's only script: live updates. The page names the fragment that can change
// (<body data-live-src>); every event of /console/events that concerns the page (any, for the
// inbox; its contact, for a conversation) refetches that fragment and swaps each element of it
// into the element of the page with the same id. No timer: the server pushes, the page pulls.
"use strict";
(function () {
  var body = document.body;
  var source = body.dataset.liveSrc;
  if (!source || !window.EventSource) return;
  var contact = body.dataset.contact ? Number(body.dataset.contact) : null;
  var busy = false;
  var again = false;

  function swap(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html;
    Array.prototype.forEach.call(holder.content.children, function (fresh) {
      var old = fresh.id && document.getElementById(fresh.id);
      if (old) old.replaceWith(fresh);
    });
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    again = false;
    fetch(source, { credentials: "same-origin", headers: { "Accept": "text/html; fragment" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/console/login"); return null; }
        if (response.status === 404) { window.location.assign("/console"); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) { if (html !== null) swap(html); })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        busy = false;
        if (again) refresh();
      });
  }

  var events = new EventSource("/console/events");
  events.addEventListener("change", function (message) {
    var event;
    try { event = JSON.parse(message.data); } catch (error) { return; }
    if (contact !== null && event.contact !== contact && event.kind !== "resync") return;
    refresh();
  });
  var opened = false;
  events.addEventListener("open", function () {
    if (opened) refresh();  // reconnected: catch up on what happened meanwhile
    opened = true;
    body.dataset.live = "open";
  });
  events.addEventListener("error", function () { body.dataset.live = "reconnecting"; });
})();
