/*
 * Draws the workflow graphs of a UI page with the vendored Mermaid (no CDN).
 *
 * Each graph is a <pre class="mermaid"> holding Mermaid text inside an element with a
 * data-graph attribute. Drawing happens once the page has loaded, and on demand through
 * window.workflowGraphs.render(root) (ui.js calls it when a live instance page replaces its
 * graph as steps finish). A drawn graph's data-graph element gets
 * data-rendered="true" so that tests and scripts can wait for the SVG instead of guessing a delay.
 * The Mermaid text comes from the server, escaped by the template; securityLevel "strict" keeps
 * labels as text and turns click directives off.
 */
(function () {
  "use strict";
  if (typeof window.mermaid === "undefined") {
    return;
  }
  window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default" });

  var queue = Promise.resolve();

  function pending(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var found = Array.prototype.slice.call(scope.querySelectorAll("[data-graph] pre.mermaid:not([data-processed])"));
    if (scope.matches && scope.matches("[data-graph] pre.mermaid:not([data-processed])")) {
      found.push(scope);
    }
    return found;
  }

  function markDrawn(nodes) {
    nodes.forEach(function (node) {
      var holder = node.closest("[data-graph]");
      if (holder && node.querySelector("svg")) {
        holder.setAttribute("data-rendered", "true");
      }
    });
  }

  // Mermaid renders one batch at a time; chaining keeps two reloads from drawing the same node.
  function render(root) {
    queue = queue.then(function () {
      var nodes = pending(root);
      if (nodes.length === 0) {
        return undefined;
      }
      return window.mermaid
        .run({ nodes: nodes, suppressErrors: true })
        .then(function () {
          markDrawn(nodes);
        })
        .catch(function (error) {
          nodes.forEach(function (node) {
            var holder = node.closest("[data-graph]");
            if (holder) {
              holder.setAttribute("data-rendered", "error");
            }
          });
          if (window.console) {
            window.console.error("workflow graph could not be drawn", error);
          }
        });
    });
    return queue;
  }

  window.workflowGraphs = { render: render };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      render(document);
    });
  } else {
    render(document);
  }
})();
