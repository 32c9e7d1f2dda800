#!/usr/bin/env bash
# A tour of the Rampart API with curl and jq. Every step prints what it does and checks the answer;
# the script exits non-zero at the first surprise.
#
#   examples/walkthrough.sh                 starts a throwaway server (built from this checkout)
#   BASE_URL=http://127.0.0.1:8000 ADMIN_USERNAME=... ADMIN_PASSWORD=... examples/walkthrough.sh
set -euo pipefail

for tool in curl jq node; do
  command -v "$tool" >/dev/null || { echo "walkthrough: $tool is required" >&2; exit 2; }
done

root=$(cd "$(dirname "$0")/.." && pwd)
server_pid=''
data_dir=''

cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$data_dir" ]; then rm -rf "$data_dir"; fi
}
trap cleanup EXIT

start_server() {
  [ -f "$root/dist/src/main.js" ] || (cd "$root" && npm run --silent build)
  data_dir=$(mktemp -d)
  ADMIN_USERNAME=walkthrough_admin
  ADMIN_PASSWORD="Adm1n-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')!"
  NODE_ENV=development HOST=127.0.0.1 PORT=0 DATA_DIR="$data_dir" LOG_LEVEL=info \
    BOOTSTRAP_ADMIN_USERNAME="$ADMIN_USERNAME" BOOTSTRAP_ADMIN_EMAIL=admin@example.com \
    BOOTSTRAP_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    node "$root/dist/src/main.js" >"$data_dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    BASE_URL=$(grep -o '"Server listening at http://127\.0\.0\.1:[0-9]*' "$data_dir/server.log" | head -n1 | sed 's/.*at //') || true
    [ -n "${BASE_URL:-}" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$data_dir/server.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "walkthrough: the server did not start" >&2
  exit 1
}

if [ -z "${BASE_URL:-}" ]; then
  start_server
else
  : "${ADMIN_USERNAME:?set ADMIN_USERNAME (and ADMIN_PASSWORD) when BASE_URL is given}"
  : "${ADMIN_PASSWORD:?set ADMIN_PASSWORD when BASE_URL is given}"
fi
echo "== Rampart at $BASE_URL"

step() { printf '\n-- %s\n' "$*"; }

# call METHOD PATH EXPECTED_STATUS [curl args...]: prints the body, fails on another status.
call() {
  local method=$1 path=$2 expected=$3
  shift 3
  local out status
  out=$(mktemp)
  status=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" "$BASE_URL$path" "$@")
  body=$(cat "$out")
  rm -f "$out"
  if [ "$status" != "$expected" ]; then
    echo "walkthrough: $method $path answered $status, expected $expected: $body" >&2
    exit 1
  fi
  echo "$method $path -> $status"
}

json() { curl_json=(-H 'Content-Type: application/json' --data "$1"); }
bearer() { auth=(-H "Authorization: Bearer $1"); }

suffix=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
alice=alice_$suffix
bob=bob_$suffix
carol=carol_$suffix
password="Wt-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')-Zq9!"

step "Sign up three users"
for name in "$alice" "$bob" "$carol"; do
  json "{\"username\":\"$name\",\"email\":\"$name@example.com\",\"password\":\"$password\"}"
  call POST /users 201 "${curl_json[@]}"
  echo "$body" | jq -c '{id, username, roles}'
done

step "A weak password is refused with every problem listed"
json "{\"username\":\"dave_$suffix\",\"email\":\"not-an-email\",\"password\":\"password\"}"
call POST /users 422 "${curl_json[@]}"
echo "$body" | jq -c '.errors'

step "Alice logs in with the OAuth2 form grant, Bob and Carol with JSON"
call POST /token 200 --data-urlencode "username=$alice" --data-urlencode "password=$password"
alice_access=$(echo "$body" | jq -r .access_token)
alice_refresh=$(echo "$body" | jq -r .refresh_token)
echo "$body" | jq -c '{token_type, expires_in}'
json "{\"username\":\"$bob\",\"password\":\"$password\"}"
call POST /login 200 "${curl_json[@]}"
bob_access=$(echo "$body" | jq -r .access_token)
json "{\"username\":\"$carol\",\"password\":\"$password\"}"
call POST /login 200 "${curl_json[@]}"
carol_access=$(echo "$body" | jq -r .access_token)

step "A wrong password gets the same generic 401 as an unknown user"
json "{\"username\":\"$alice\",\"password\":\"wrong-password-123\"}"
call POST /login 401 "${curl_json[@]}"
echo "$body" | jq -c '{title, detail}'

step "Bob looks himself up"
bearer "$bob_access"
call GET /users/me 200 "${auth[@]}"
bob_id=$(echo "$body" | jq -r .id)
echo "$body" | jq -c '{id, username, email}'

step "Alice creates a document and shares it with Bob for reading"
bearer "$alice_access"
json '{"title":"Quarterly plan","content":"Ship the walkthrough."}'
call POST /documents 201 "${auth[@]}" "${curl_json[@]}"
doc_id=$(echo "$body" | jq -r .id)
json '{"permission":"read"}'
call PUT "/documents/$doc_id/shares/$bob_id" 200 "${auth[@]}" "${curl_json[@]}"
echo "$body" | jq -c .

step "Bob reads it; he may not change it"
bearer "$bob_access"
call GET "/documents/$doc_id" 200 "${auth[@]}"
echo "$body" | jq -c '{title, permission}'
json '{"title":"Hijacked"}'
call PATCH "/documents/$doc_id" 403 "${auth[@]}" "${curl_json[@]}"

step "Carol, a stranger, gets 404 exactly as for a document that does not exist"
bearer "$carol_access"
call GET "/documents/$doc_id" 404 "${auth[@]}"
stranger=$body
call GET /documents/00000000-0000-4000-8000-000000000000 404 "${auth[@]}"
[ "$(echo "$stranger" | jq -c 'del(.instance)')" = "$(echo "$body" | jq -c 'del(.instance)')" ] \
  || { echo "walkthrough: the two 404s differ" >&2; exit 1; }
echo "both answers are the same problem document"

step "Alice refreshes: a new pair, and the old refresh token is spent"
json "{\"refresh_token\":\"$alice_refresh\"}"
call POST /token/refresh 200 "${curl_json[@]}"
new_access=$(echo "$body" | jq -r .access_token)
new_refresh=$(echo "$body" | jq -r .refresh_token)
bearer "$new_access"
call GET /users/me 200 "${auth[@]}"

step "Someone replays the spent refresh token: the whole session is revoked"
json "{\"refresh_token\":\"$alice_refresh\"}"
call POST /token/refresh 401 "${curl_json[@]}"
json "{\"refresh_token\":\"$new_refresh\"}"
call POST /token/refresh 401 "${curl_json[@]}"
bearer "$new_access"
call GET /users/me 401 "${auth[@]}"
echo "the fresh access and refresh tokens stopped working too"

step "The admin lists the security events"
json "{\"username\":\"$ADMIN_USERNAME\",\"password\":\"$ADMIN_PASSWORD\"}"
call POST /login 200 "${curl_json[@]}"
admin_access=$(echo "$body" | jq -r .access_token)
bearer "$admin_access"
call GET '/admin/security-events?type=authn_token_reuse&limit=5' 200 "${auth[@]}"
echo "$body" | jq -c '.items[] | {at, type, outcome, user_id}'
[ "$(echo "$body" | jq '.items | length')" -ge 1 ] || { echo "walkthrough: no reuse event" >&2; exit 1; }
call GET '/admin/security-events?limit=8' 200 "${auth[@]}"
echo "$body" | jq -r '.items[] | "\(.at)  \(.type)  \(.outcome)"'
call GET /admin/security-events/verify 200 "${auth[@]}"
echo "$body" | jq -c .

step "Bob logs out; his token stops working at once"
bearer "$bob_access"
call POST /logout 204 "${auth[@]}"
call GET /users/me 401 "${auth[@]}"

printf '\n== walkthrough passed\n'
