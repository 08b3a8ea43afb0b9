#!/usr/bin/env bash
# Run by offline-docker's smoke.sh against the running compose stack (APP_URL, COMPOSE_* are exported):
# upload, fetch and delete an image through the container, then restart the stack and check that an
# uploaded image survived in the volumes.
set -euo pipefail
: "${APP_URL:?}"
# smoke.sh passes the URL it polled (…/healthz); the checks need the origin.
APP_URL=$(node -e "process.stdout.write(new URL(process.argv[1]).origin)" "$APP_URL")
COMPOSE="${OFFLINE_DOCKER_COMPOSE:-docker-compose}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The image preloads jemalloc instead of glibc's malloc (flat memory under libvips); a new process in it maps it.
"$COMPOSE" exec -T app node -e "process.exit(require('fs').readFileSync('/proc/self/maps', 'utf8').includes('libjemalloc') ? 0 : 1)"
echo "the app's processes run on jemalloc"

node -e "require('sharp')({ create: { width: 64, height: 48, channels: 3, background: '#3366aa' } }).png().toFile(process.argv[1])" "$work/a.png"

upload() { curl -fsS -H 'Accept: application/json' -F "file=@$1;type=image/png" "$APP_URL/upload"; }
field() { node -e "process.stdout.write(String(JSON.parse(process.argv[1])[process.argv[2]]))" "$1" "$2"; }
local_url() { node -e "const u = new URL(process.argv[1]); process.stdout.write(process.argv[2] + u.pathname)" "$1" "$APP_URL"; }

# First-run setup: the one-time admin URL is in the app's log.
setup_line=$("$COMPOSE" logs --no-color app | grep -o '"setupUrl":"[^"]*"' | tail -1)
test -n "$setup_line"
setup_url=${setup_line#\"setupUrl\":\"}
setup=$(local_url "${setup_url%\"}")
jar="$work/cookies"
csrf=$(curl -fsS -c "$jar" "$setup" | grep -o 'name="_csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
test -n "$csrf"
status=$(curl -sS -b "$jar" -c "$jar" -o /dev/null -w '%{http_code}' -X POST \
  --data-urlencode "_csrf=$csrf" --data-urlencode username=ciadmin --data-urlencode email=ci-admin@example.test \
  --data-urlencode "password=ci admin passphrase $RANDOM$RANDOM" "$setup")
test "$status" = 303
test "$(curl -sS -o /dev/null -w '%{http_code}' "$setup")" = 404
echo "created the first admin through the one-time setup URL; the URL now answers 404"

first=$(upload "$work/a.png")
url=$(local_url "$(field "$first" url)")
delete_url=$(local_url "$(field "$first" deleteUrl)")
test "$(curl -fsS -o /dev/null -w '%{content_type}' "$url")" = image/png
echo "uploaded and fetched $url"
test "$(curl -fsS -X POST -H 'Accept: application/json' "$delete_url")" = '{"deleted":true}'
test "$(curl -sS -o /dev/null -w '%{http_code}' "$url")" = 404
echo "deleted it; the link now answers 404"

keep=$(upload "$work/a.png")
keep_url=$(local_url "$(field "$keep" url)")
"$COMPOSE" down
"$COMPOSE" up -d
for _ in $(seq 1 60); do
  curl -fsS "$APP_URL/readyz" >/dev/null 2>&1 && break
  sleep 2
done
test "$(curl -fsS -o /dev/null -w '%{http_code}' "$keep_url")" = 200
echo "after a restart of the stack, $keep_url is still served"
