#!/bin/sh
# Registers the custom search attributes the appraisal workflows set, in the namespace the
# workers use. Arguments: Name=Type pairs (the list in docker-compose.yml, kept equal to
# workflows/search_attributes.py by tests/unit/test_compose.py).
#
# Safe to run again and again: an attribute that already exists with the same type counts as
# registered. One that exists with another type is an error (changing a type is a migration).
# Runs in the temporalio/admin-tools image; POSIX sh, no jq.
set -eu

: "${TEMPORAL_ADDRESS:=temporal:7233}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${REGISTER_ATTEMPTS:=60}"
: "${REGISTER_SLEEP_SECONDS:=2}"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 Name=Type [Name=Type ...]" >&2
    exit 2
fi
for pair in "$@"; do
    case "$pair" in
        ?*=?*) ;;
        *) echo "not a Name=Type pair: '$pair'" >&2; exit 2 ;;
    esac
done

t() {
    temporal "$@" --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE"
}

# Retry until the command succeeds; the namespace appears a little after the server
# reports healthy (auto-setup registers it in the background).
retry() {
    what=$1
    shift
    n=1
    until "$@"; do
        if [ "$n" -ge "$REGISTER_ATTEMPTS" ]; then
            echo "giving up after $n attempts: $what" >&2
            return 1
        fi
        n=$((n + 1))
        sleep "$REGISTER_SLEEP_SECONDS"
    done
}

list_attributes() {
    t operator search-attribute list > "$listing" 2>&1
}

listing=$(mktemp)
output=$(mktemp)
trap 'rm -f "$listing" "$output"' EXIT

echo "namespace '$TEMPORAL_NAMESPACE' at $TEMPORAL_ADDRESS"
retry "namespace '$TEMPORAL_NAMESPACE' at $TEMPORAL_ADDRESS" list_attributes

for pair in "$@"; do
    name=${pair%%=*}
    type=${pair#*=}
    if t operator search-attribute create --name "$name" --type "$type" > "$output" 2>&1; then
        echo "registered $name ($type)"
    elif grep -qi "different type" "$output"; then
        cat "$output" >&2
        echo "$name exists with another type than $type: changing it is a migration" >&2
        exit 1
    elif grep -qi "already exists" "$output"; then
        echo "$name already registered ($type)"
    else
        cat "$output" >&2
        echo "could not register $name ($type)" >&2
        exit 1
    fi
done

# Workers start as soon as this job ends: wait until the server lists every attribute, so
# their first upserts do not race the namespace cache.
all_listed() {
    list_attributes || return 1
    for pair in "$@"; do
        grep -qw -- "${pair%%=*}" "$listing" || return 1
    done
}
retry "search attributes listed" all_listed "$@"
echo "search attributes ready: $*"
