"""`appraisal audit`: the auditors' door (案卷评查).

One case: its history replayed on the current workflow code, the timeline a case-file reviewer
reads (stages, events, clocks, refusals, documents, letters, the panel) and the checks an
auditor makes, each passed or failed with its reason. Many cases: every closed case replayed,
the check to run before deploying new workflow code.

Modules: `rows` (what PostgreSQL holds), `history` and `facts` (the Temporal history),
`replay`, `clocks` (deadlines rebuilt from the log), `checks`, `report` (the pure assembly),
`describe` (events in words), `privacy` (masking), `render` (text) and `html` (the printable
report); the commands are in `starter/audit_cli.py`."""
