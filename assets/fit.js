/*
 * Fit a wall screen to its display: when banners (feed down, worker stopped...) push the
 * page below the bottom of a large screen, shrink it a little rather than hide figures
 * below the fold of a screen nobody scrolls. Small screens (desk, tablet) scroll as usual.
 */
(function () {
    "use strict";

    var MIN_ZOOM = 0.7;
    var WALL_WIDTH = 1200;  // px: narrower displays are not wall screens

    function fit() {
        var screen = document.querySelector(".screen");
        if (!screen) {
            return;
        }
        if (window.innerWidth < WALL_WIDTH) {
            screen.style.zoom = "";
            return;
        }
        var before = screen.style.zoom;
        screen.style.zoom = "";
        var height = document.documentElement.scrollHeight;
        var zoom = Math.max(MIN_ZOOM, Math.min(1, window.innerHeight / height));
        // Round so that tiny changes in content do not make the page twitch.
        zoom = Math.floor(zoom * 50) / 50;
        var wanted = zoom < 1 ? String(zoom) : "";
        screen.style.zoom = wanted;
        if (wanted !== before) {
            // Plotly sizes responsive graphs on window resize only: let them re-measure.
            window.dispatchEvent(new Event("resize"));
        }
    }

    window.addEventListener("resize", fit);
    window.setInterval(fit, 1000);
})();
