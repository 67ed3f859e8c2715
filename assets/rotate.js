/*
 * Wall-screen playlist: ?rotate=SECONDS&pages=strategic,tactical,operational moves between
 * pages every SECONDS (at least 10), keeping the query string (so ?wall=1 stays). Pages are
 * named by their module (data-page on each page's root); their paths come from the page
 * (data-paths), which reads them from the page registry. Moving is in-page (Dash's own
 * history event), so a screen whose server is away keeps its watchdog banner and comes
 * back by itself: the next page is asked for at the next turn.
 */
(function () {
    "use strict";

    var params = new URLSearchParams(window.location.search);
    var seconds = Number(params.get("rotate"));
    if (!(seconds > 0)) {
        return;
    }
    seconds = Math.max(10, seconds);
    var wanted = (params.get("pages") || "strategic,tactical,operational")
        .split(",").map(function (s) { return s.trim(); }).filter(Boolean);

    // The page must not move while a refresh is in flight, or just before one: its answer
    // would land on components that are gone, and dash-renderer fails applying a Patch to
    // them ("Cannot patch undefined"). So at each turn the screen moves just after the
    // page's next refresh has completed (the watchdog says so), when the following one is a
    // whole refresh interval away; if none completes within 15 s (the server is away), it
    // moves anyway.
    var due = null;

    function turn() {
        due = Date.now() + 15000;
    }

    function moveIfDue(force) {
        if (due !== null && (force || Date.now() >= due)) {
            due = null;
            next();
        }
    }

    window.addEventListener("surge:refreshed", function () {
        if (due !== null) {
            window.setTimeout(function () { moveIfDue(true); }, 0);
        }
    });
    window.setInterval(function () { moveIfDue(false); }, 1000);

    function next() {
        var root = document.querySelector("[data-page][data-paths]");
        if (!root) {
            return;  // not drawn yet (or the server is away): try at the next turn
        }
        var paths;
        try {
            paths = JSON.parse(root.getAttribute("data-paths"));
        } catch (e) {
            return;
        }
        var list = wanted.filter(function (name) { return paths[name]; });
        if (!list.length) {
            return;
        }
        var here = list.indexOf(root.getAttribute("data-page"));
        var target = paths[list[(here + 1) % list.length]];
        window.history.pushState({}, "", target + window.location.search);
        window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
    }

    window.setInterval(turn, seconds * 1000);
})();
