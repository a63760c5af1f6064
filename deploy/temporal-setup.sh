#!/bin/sh
# Prepares the Temporal cluster for cxloop (docker-compose.yml's temporal-setup
# service, run by the admin-tools image once the server listens): waits until
# the cluster reports SERVING, creates cxloop's namespace, and registers the
# ticket search attributes. Runs again safely: an existing namespace is kept and
# an attribute registered again with the same type is accepted.
#
# Environment: TEMPORAL_ADDRESS (host:port), TEMPORAL_NAMESPACE,
# NAMESPACE_RETENTION (e.g. 30d), SEARCH_ATTRIBUTES: space-separated Name=Type
# pairs, the notation of the dev server's --search-attribute.
set -eu

: "${TEMPORAL_ADDRESS:?the Temporal frontend, host:port}"
: "${TEMPORAL_NAMESPACE:?cxloop's namespace}"
: "${SEARCH_ATTRIBUTES:?Name=Type pairs}"
HEALTH_ATTEMPTS=${HEALTH_ATTEMPTS:-60}

temporal_operator() {
    temporal operator "$@" --address "$TEMPORAL_ADDRESS"
}

# until_it_answers <what> <command...>: the cluster answers some calls only
# after a while; give up after HEALTH_ATTEMPTS tries two seconds apart, showing
# the last error.
until_it_answers() {
    what=$1
    shift
    attempt=1
    until "$@" >/dev/null 2>&1; do
        if [ "$attempt" -ge "$HEALTH_ATTEMPTS" ]; then
            echo "$what: no answer after $attempt attempts" >&2
            "$@"
            exit 1
        fi
        attempt=$((attempt + 1))
        sleep 2
    done
}

# The frontend listens before its history and matching services have joined the
# cluster; every command below needs all of them.
until_it_answers "Temporal at $TEMPORAL_ADDRESS" temporal_operator cluster health
echo "Temporal at $TEMPORAL_ADDRESS is SERVING"

if temporal_operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
    echo "namespace $TEMPORAL_NAMESPACE exists"
else
    temporal_operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "${NAMESPACE_RETENTION:-30d}"
    echo "namespace $TEMPORAL_NAMESPACE created"
fi
# A new namespace reaches the frontend's namespace cache a few seconds later.
until_it_answers "namespace $TEMPORAL_NAMESPACE" \
    temporal_operator search-attribute list --namespace "$TEMPORAL_NAMESPACE"

# One attribute per call: the CLI pairs each --name with a --type of its own.
for attribute in $SEARCH_ATTRIBUTES; do
    temporal_operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" \
        --name "${attribute%%=*}" --type "${attribute#*=}"
done
echo "search attributes of $TEMPORAL_NAMESPACE: $SEARCH_ATTRIBUTES"
