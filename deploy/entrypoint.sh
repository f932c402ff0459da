#!/bin/sh
# Entrypoint of the gridwatch container: refuse the example secrets outside demo mode,
# build the MQTT URL from the credentials `gridwatch mqtt-acl` generated, run gridwatch.
set -eu

example="${GRIDWATCH_ENV_EXAMPLE:-/app/deploy/.env.example}"
if [ "${GRIDWATCH_DEMO:-0}" != "1" ]; then
  refused=""
  while IFS='=' read -r key value; do
    case "$key" in
      *[!A-Z0-9_]* | "") continue ;;  # comments, blank lines: only plain names are read
      *_PASSWORD | *_TOKEN) ;;
      *) continue ;;
    esac
    eval "current=\${$key:-}"
    # Empty means not used (the bootstrap token, once real tokens exist); compose
    # itself refuses to start without the required ones.
    if [ -n "$current" ] && [ "$current" = "$value" ]; then
      refused="$refused $key"
    fi
  done < "$example"
  if [ -n "$refused" ]; then
    echo "gridwatch: refusing to start: example secrets still in .env:$refused" >&2
    echo "  replace them (see deploy/.env.example), or set GRIDWATCH_DEMO=1 for a demo" >&2
    exit 78
  fi
fi
# gridwatch needs none of the stack's admin secrets; they were passed for the check only.
# (PostgreSQL's password reaches gridwatch inside GRIDWATCH_OPS_URL.)
unset INFLUXDB_ADMIN_PASSWORD INFLUXDB_ADMIN_TOKEN GRAFANA_ADMIN_PASSWORD POSTGRES_PASSWORD

if [ -n "${GW_MQTT_USER:-}" ] && [ -z "${GRIDWATCH_MQTT_URL:-}" ]; then
  creds="${GW_MQTT_CREDENTIALS:-/run/gridwatch/mqtt/credentials.txt}"
  password="$(awk -v u="$GW_MQTT_USER" '$1 == u { print $2 }' "$creds")"
  if [ -z "$password" ]; then
    echo "gridwatch: no MQTT password for $GW_MQTT_USER in $creds (rerun mqtt-acl)" >&2
    exit 78
  fi
  export GRIDWATCH_MQTT_URL="mqtt://$GW_MQTT_USER:$password@${GW_MQTT_HOST:-mosquitto:1883}"
fi
exec "${GRIDWATCH_BIN:-gridwatch}" "$@"
