"""Patch ids: each names a change to the commands a case issues (`workflow.patched`).

A case started before a change replays on the old path; the README says when an old path may
go (`workflow.deprecate_patch`, then delete it)."""

# The core hardening, 2026-11: decided once at the start of a case (old paths in legacy.py).
HARDENED_CORE = "hardened-core"
# Moved conclusion clocks recounted from the complete application by the counting rule
# (before: the earlier due date plus the days).
RECOUNTED_MOVES = "recounted-moves"
# The rules as the law and Jining's reform say them (issue #8), 2026-11: decided once at the
# start of a case, like the hardening; a case started before keeps the rules it started under.
JINING_RULES = "jining-rules"
# Delivery in full (issue #9), 2026-11: returned letters, the other address, public notice,
# tracking polls, the dispute window and referral to the province. Decided once at the start,
# under the Jining rules.
FULL_DELIVERY = "full-delivery"
# The archive package (issue #9), 2026-11: decided once at the start of a case. The case
# checks a prior conclusion recorded here (review, re-appraisal) and is sealed as the archive
# package: parts with their SHA-256, a digest in RFC 8785, the history export, retain_until.
ARCHIVE_PACKAGE = "archive-package"
# Refused requests leave a trace (issue #10), 2026-12: the rule is checked in the handler,
# not the validator, and a refusal is recorded in the event log (`request.refused`) before it
# is answered. Decided once at the start, under the archive package.
RECORDED_REFUSALS = "recorded-refusals"
# Proven actors (issue #10), 2026-12: every update and signal declares who may send it; the
# gate checks the actor against the staff roster, the panel or the gateway's clients
# (workflows/actors.py). Decided once at the start, under recorded refusals.
PROVEN_ACTORS = "proven-actors"
# The lean case (issue #11), 2026-12: one write per transition (a local activity), reads as
# local activities, the outbox sent by its dispatcher, the letter on its own task queue, strict
# input, updates answering once the case has moved. Asked first and alone: every patch above
# is implied by it, so a new case records one patch marker (and one TemporalChangeVersion
# upsert) instead of seven; a case started before it finds no marker and asks the others.
LEAN_CASE = "lean-case"
