/*
 * The UI's own script (small, no dependencies):
 * 1. shows every <time datetime="..."> in the browser's time zone, naming the zone, and keeps
 *    that zone's IANA name in a cookie (workflows_tz) so the server counts "today" in it;
 * 2. keeps a live instance page current: it listens to the page's server-sent events and
 *    reloads the live region on each update, or reloads it every few seconds when the browser
 *    has no EventSource or the stream fails (trying the stream again after a growing pause, and
 *    polling on through a reload that goes unanswered); graphs in the new region are drawn by graphs.js.
 *    A hidden tab closes its stream and catches up when it is shown again: over HTTP/1.1 a
 *    browser opens six connections per server, and six open streams left it none for any page.
 * 3. disables a posted form's submit button until the next page, so a double click posts once.
 * Without JavaScript the pages work as they are (times in UTC, a <noscript> refresh).
 */
(function () {
  "use strict";
  var FALLBACK_MS = 5000;

  function localise(root) {
    var zone;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (e) {
      return;
    }
    var format = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
    (root || document).querySelectorAll("time[datetime]").forEach(function (node) {
      var moment = new Date(node.getAttribute("datetime"));
      if (!isNaN(moment.getTime())) {
        node.textContent = format.format(moment);
        node.title = node.getAttribute("datetime") + " (" + zone + ")";
      }
    });
    document.querySelectorAll("[data-zone]").forEach(function (node) { node.textContent = zone; });
  }

  // The server reads the zone back from this cookie for the inbox's "Completed today" (it names the
  // zone it used, UTC until the cookie exists). Only a plain IANA name is stored.
  function rememberZone() {
    var zone;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (e) {
      return;
    }
    if (!zone || !/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) { return; }
    var root = document.body.getAttribute("data-ui-root") || "/";
    document.cookie = "workflows_tz=" + zone + "; path=" + root + "; max-age=31536000; SameSite=Lax";
  }

  // Reloads can overlap (an update, then "finished", each start one) and answer out of order:
  // the newest request wins, and the region replaced is the one on the page when it answers.
  var reloadsAsked = 0, reloadShown = 0;

  function reload() {
    var mine = ++reloadsAsked;
    return fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.ok) { return response.text(); }
        // Not answered (a restart, a proxy's 502): still live for all we know. Any other refusal
        // (the instance is gone, the session expired) is final: nothing more to follow.
        return response.status >= 500 ? null : "";
      })
      .then(function (html) {
        if (html === null) { return null; }
        if (!html) { return false; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        var live = document.getElementById("live");
        if (!fresh || !live) { return false; }
        if (mine < reloadShown) { return live.hasAttribute("data-live"); } // a newer one is shown
        reloadShown = mine;
        // Keep the keyboard where it was: refocus the same control in the new region.
        var active = document.activeElement;
        var form = active && live.contains(active) && active.form ? active.form.getAttribute("action") : null;
        live.replaceWith(fresh);
        if (form) {
          var again = fresh.querySelector('form[action="' + form + '"] button');
          if (again) { again.focus(); } else { fresh.focus(); }
        }
        localise(fresh);
        if (window.workflowGraphs && window.workflowGraphs.render) { window.workflowGraphs.render(fresh); }
        document.title = new DOMParser().parseFromString(html, "text/html").title || document.title;
        return fresh.hasAttribute("data-live");
      })
      .catch(function () { return null; }); // the server is out of reach: try again later
  }

  function isLive() {
    var live = document.getElementById("live");
    return !!(live && live.hasAttribute("data-live"));
  }

  var polling = null; // the fallback's timer, once it runs
  var source = null; // the open stream, if any
  // After a stream fails the page polls, and tries the stream again once this much time has
  // passed, doubling it after each failure up to a minute: a server that was restarting serves
  // streams again, and one that refuses them (too many open) is not asked on every tick.
  var STREAM_RETRY_MAX_MS = 60000;
  var streamRetryMs = FALLBACK_MS;
  var streamAgainAt = 0;

  function stopPolling() {
    if (polling !== null) { window.clearInterval(polling); polling = null; }
  }

  function poll() {
    if (polling !== null) { return; }
    polling = window.setInterval(function () {
      if (document.hidden) { return; } // shown again, the page catches up at once (see below)
      if (!isLive()) { stopPolling(); return; }
      reload().then(function (still) {
        if (still === false) { stopPolling(); return; } // finished: nothing more will change
        // Answered, and the stream's turn has come again: back to it (see follow()).
        if (still && streamAgainAt && Date.now() >= streamAgainAt && typeof window.EventSource !== "undefined") {
          stopPolling();
          follow();
        }
      });
    }, FALLBACK_MS);
  }

  function unfollow() {
    if (source !== null) { source.close(); source = null; }
  }

  function follow() {
    if (!isLive() || document.hidden || source !== null || polling !== null) { return; }
    if (typeof window.EventSource === "undefined") { poll(); return; }
    var live = document.getElementById("live");
    var stream = source = new EventSource(live.getAttribute("data-events"));
    stream.onopen = function () { streamRetryMs = FALLBACK_MS; streamAgainAt = 0; };
    stream.addEventListener("update", function (event) {
      var current = document.getElementById("live");
      var version = null;
      try { version = String(JSON.parse(event.data).version); } catch (e) { version = null; }
      // The stream starts with the state the page may already show: reload only on news.
      if (current && version !== current.getAttribute("data-version")) { reload(); }
    });
    stream.addEventListener("finished", function () {
      stream.close();
      if (source === stream) { source = null; }
      if (document.getElementById("live")) { reload(); }
    });
    stream.onerror = function () {
      if (stream.readyState === EventSource.CLOSED && source === stream) {
        source = null;
        streamAgainAt = Date.now() + streamRetryMs;
        streamRetryMs = Math.min(streamRetryMs * 2, STREAM_RETRY_MAX_MS);
        poll();
      }
    };
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { unfollow(); return; }
    if (source !== null || !isLive()) { return; }
    // What happened while the tab was hidden, then the stream again (or polling, while the
    // server does not answer).
    reload().then(function (still) {
      if (still) {
        follow();
      } else if (still === null) {
        streamAgainAt = Date.now() + streamRetryMs; // the stream's turn comes back (see poll())
        poll();
      }
    });
  });

  // A form posts once: a second click while the first is on its way would only meet a 409.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || (form.getAttribute("method") || "").toLowerCase() !== "post") { return; }
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      window.setTimeout(function () { button.disabled = true; }, 0); // after the browser took its value
    });
  });

  window.addEventListener("pageshow", function (event) { // back to a page kept in the history cache
    if (event.persisted) {
      document.querySelectorAll("button[disabled]").forEach(function (button) { button.disabled = false; });
    }
  });

  // A refused form: take keyboard and screen-reader users straight to the list of problems.
  var problems = document.getElementById("form-errors");
  if (problems) { problems.focus(); }

  rememberZone();
  localise(document);
  follow();
})();
