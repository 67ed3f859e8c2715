"""The pages' view models: pure functions from what was read from the store, and ``now``,
to what each figure on a page says. No Redis, no Dash: tested without a server.

    header       the page header on every page: calculated and declared level, divergence,
                 UK time (the status bar's feeds, store and worker are dashboard/data.py's)
    strategic    "/": the trust's level, declared beside calculated, drivers, 24 h, actions
    tactical     "/tactical": each function's triggers against their thresholds, pending,
                 the checklist
    operational  "/operational": per site: hospitals, EOCs, PTS zones
    protocols    "/protocols": the rules in force, in words
    status       "/status": feeds, the quarantine, the store, the workers, the rules
"""
