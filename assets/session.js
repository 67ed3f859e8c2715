/*
 * A session that ends while a page is open (signed out elsewhere, idle or absolute timeout,
 * user disabled, wall screen revoked) makes the server answer the page's next Dash request
 * with 401. Reload the page then: the server shows the sign-in page, or for a revoked wall
 * screen "This screen link has been revoked or is not valid", within one refresh, instead
 * of frozen figures. At most one reload every 10 s, so a server that keeps answering 401
 * cannot make the page spin.
 */
(function () {
    "use strict";

    var MIN_GAP_MS = 10000;
    var KEY = "surge-session-reload-at";
    var original = window.fetch;
    if (!original) {
        return;
    }

    function url(input) {
        if (typeof input === "string") {
            return input;
        }
        return (input && input.url) || "";
    }

    function reloaded() {
        var last = Number(window.sessionStorage.getItem(KEY) || 0);
        var now = Date.now();
        if (now - last < MIN_GAP_MS) {
            return false;
        }
        window.sessionStorage.setItem(KEY, String(now));
        window.location.reload();
        return true;
    }

    window.fetch = function (input) {
        var target = url(input);
        return original.apply(this, arguments).then(function (response) {
            if (response.status === 401 && target.indexOf("/_dash-") !== -1 && reloaded()) {
                // The page is going: Dash need not handle (and log) this answer.
                return new Promise(function () {});
            }
            return response;
        });
    };
})();
