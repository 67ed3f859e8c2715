/*
 * Surge wall-screen watchdog.
 *
 * A screen left running in a control room must never show frozen figures as if they were
 * live. Each completed refresh calls dash_clientside.surge.recordRefresh (a clientside
 * callback on the watchdog store, see dashboard/components/watchdog.py). Once a second we
 * check: if the page holds a watchdog element and no refresh has completed for three
 * refresh intervals (server down, network down, callback failing), a full-width red
 * banner says so and the page is greyed. Times use the browser's own clock for the
 * interval, and the server's UK time string for "last update".
 */
(function () {
    "use strict";

    var BANNER_ID = "watchdog-banner";
    var state = {lastOk: null, lastUk: null, armedAt: null};

    function watchdogElement() {
        return document.getElementById("screen-watchdog");
    }

    function intervalMs(el) {
        var ms = Number(el && el.getAttribute("data-interval-ms"));
        return ms > 0 ? ms : 5000;
    }

    function banner() {
        var el = document.getElementById(BANNER_ID);
        if (!el) {
            el = document.createElement("div");
            el.id = BANNER_ID;
            el.setAttribute("role", "alert");
            el.className = "watchdog-banner";
            document.body.appendChild(el);
        }
        return el;
    }

    function show(text) {
        var el = banner();
        if (el.textContent !== text) {
            el.textContent = text;
        }
        el.hidden = false;
        document.body.classList.add("screen-stalled");
    }

    function hide() {
        var el = document.getElementById(BANNER_ID);
        if (el) {
            el.hidden = true;
        }
        document.body.classList.remove("screen-stalled");
    }

    function check() {
        var el = watchdogElement();
        if (!el) {
            // A page without a refresh: nothing to watch. Re-arm when one appears.
            state.armedAt = null;
            state.lastOk = null;
            state.lastUk = null;
            hide();
            return;
        }
        var now = Date.now();
        if (state.armedAt === null) {
            state.armedAt = now;
        }
        var since = state.lastOk !== null ? state.lastOk : state.armedAt;
        if (now - since > 3 * intervalMs(el)) {
            show(state.lastUk
                ? "THIS SCREEN IS NOT UPDATING — last update " + state.lastUk
                : "THIS SCREEN IS NOT UPDATING — no update since it was opened");
        } else {
            hide();
        }
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside);
    window.dash_clientside.surge = Object.assign({}, window.dash_clientside.surge, {
        recordRefresh: function (data) {
            if (!data || !data.uk) {
                return window.dash_clientside.no_update;
            }
            state.lastOk = Date.now();
            state.lastUk = data.uk;
            check();
            // (the wall-screen playlist moves page just after a refresh: assets/rotate.js)
            window.dispatchEvent(new CustomEvent("surge:refreshed"));
            return "last update " + data.uk;
        }
    });

    // dash-renderer keeps an undo entry for every input change, and the refresh timer's
    // tick is one: a screen on for a week would hold 120,000 of them (plotly/dash#727).
    // Nothing here uses undo, so keep the last few. The array is replaced, never shared,
    // on the next change, so trimming it in place is safe.
    var HISTORY_KEPT = 20;

    function trimHistory() {
        var store = window.store && window.store.getState && window.store.getState();
        var past = store && store.history && store.history.past;
        if (past && past.length > HISTORY_KEPT) {
            past.splice(0, past.length - HISTORY_KEPT);
        }
    }

    window.setInterval(check, 1000);
    window.setInterval(trimHistory, 10000);
})();
