"""Cost monitoring in the database: running aggregates, threshold rules, alerts.

By concern:

sql       the SQL text the others run (the window upsert, the alert queries, the
          admin statements);
rules     the pure rule engine: which windows cross which threshold, at what
          escalation level (no database, unit-tested on its own);
triggers  the api_costs triggers: each statement's windows, the rules' verdicts
          become alerts and cost_alert events, then the budget guard; and the
          rebuild of the windows from the ledger;
admin     the operator's functions: thresholds, rate limits, the anomaly
          detector, alert acknowledgement and resolution.
"""
