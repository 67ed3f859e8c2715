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

    // A refresh still in flight when the page moves on would land on components that are
    // gone; dash-renderer then fails applying a Patch to them ("Cannot patch undefined"). So
    // the screen moves between refreshes: it waits (up to 5 s) for none to be in flight.
    function busy() {
        var state = window.store && window.store.getState && window.store.getState();
        return Boolean(state && state.isLoading);
    }

    function turn() {
        var waited = 0;
        (function attempt() {
            if (busy() && waited < 5000) {
                waited += 100;
                window.setTimeout(attempt, 100);
                return;
            }
            next();
        })();
    }

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
