"""Surge alerts to duty managers: who is told what, how, and what they did about it.

    config.py    alerting.yaml: receivers, routes, escalation, timings (checked like the rules)
    channels.py  delivering one notification: email (SMTP), webhook (json, teams, slack),
                 Alertmanager (/api/v2/alerts)
"""
