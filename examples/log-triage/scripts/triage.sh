#!/bin/sh
# Count ERROR/WARN lines per component and show the first line of each distinct error.
# Log lines look like: 2026-01-01T10:00:00Z LEVEL component: message
set -eu
log="${1:?usage: triage.sh LOGFILE}"
echo "== counts by level and component"
awk '$2 == "ERROR" || $2 == "WARN" { sub(":", "", $3); n[$2 " " $3]++ } END { for (k in n) print n[k], k }' "$log" | sort -rn
echo "== first occurrence of each error"
awk '$2 == "ERROR" { msg = $0; sub(/^[^ ]* [^ ]* [^:]*: /, "", msg); if (!(msg in seen)) { seen[msg] = 1; print } }' "$log"
