#!/usr/bin/env bash
# Runs the gateway in the foreground from a prefix directory: renders the
# configuration from the templates next to this script, makes a
# self-signed certificate unless one is given, then execs nginx.
#
#   gateway/run.sh            # serve (Ctrl-C stops)
#   gateway/run.sh --check    # render and test the configuration only
#
# Settings (environment):
#   GATEWAY_BACKENDS         backend nodes, comma-separated (127.0.0.1:8000)
#   GATEWAY_BIND             listen address (127.0.0.1)
#   GATEWAY_HTTPS_PORT       (8443)      GATEWAY_HTTP_PORT (8080): redirects to HTTPS
#   GATEWAY_PUBLIC_PORT      the HTTPS port clients see, for redirects (GATEWAY_HTTPS_PORT)
#   GATEWAY_ALLOWED_ORIGINS  CORS and websocket origins, comma-separated
#                            (https://localhost:$GATEWAY_PUBLIC_PORT)
#   GATEWAY_CERT, GATEWAY_KEY  PEM files (a self-signed localhost pair is made)
#   GATEWAY_PREFIX           where the rendered files, logs and temp files go
#                            (gateway/.run)
#   GATEWAY_WORKERS          nginx worker processes (auto)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

export GATEWAY_BACKENDS="${GATEWAY_BACKENDS:-127.0.0.1:8000}"
export GATEWAY_BIND="${GATEWAY_BIND:-127.0.0.1}"
export GATEWAY_HTTPS_PORT="${GATEWAY_HTTPS_PORT:-8443}"
export GATEWAY_HTTP_PORT="${GATEWAY_HTTP_PORT:-8080}"
export GATEWAY_PUBLIC_PORT="${GATEWAY_PUBLIC_PORT:-$GATEWAY_HTTPS_PORT}"
export GATEWAY_ALLOWED_ORIGINS="${GATEWAY_ALLOWED_ORIGINS:-https://localhost:$GATEWAY_PUBLIC_PORT}"
export GATEWAY_PREFIX="${GATEWAY_PREFIX:-$here/.run}"
export GATEWAY_WORKERS="${GATEWAY_WORKERS:-auto}"
mkdir -p "$GATEWAY_PREFIX"
GATEWAY_PREFIX="$(cd "$GATEWAY_PREFIX" && pwd)"
export GATEWAY_PREFIX

module=/usr/lib/nginx/modules/ngx_http_modsecurity_module.so
if ! command -v nginx >/dev/null || [ ! -f "$module" ] || [ ! -d /usr/share/modsecurity-crs/rules ]; then
  echo "gateway: needs the Debian packages nginx, libnginx-mod-http-modsecurity and modsecurity-crs" >&2
  exit 2
fi

mkdir -p "$GATEWAY_PREFIX"/{logs,tmp,modsecurity}

if [ -z "${GATEWAY_CERT:-}" ]; then
  export GATEWAY_CERT="$GATEWAY_PREFIX/localhost.crt" GATEWAY_KEY="$GATEWAY_PREFIX/localhost.key"
  if [ ! -f "$GATEWAY_CERT" ]; then
    # A leaf (CA:FALSE), so clients may trust it directly.
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
      -addext "basicConstraints=critical,CA:FALSE" \
      -addext "extendedKeyUsage=serverAuth" \
      -keyout "$GATEWAY_KEY" -out "$GATEWAY_CERT" 2>/dev/null
  fi
fi

# The listen directives and the lists, from the settings.
export GATEWAY_HTTPS_LISTEN="$GATEWAY_BIND:$GATEWAY_HTTPS_PORT"
export GATEWAY_HTTP_LISTEN="$GATEWAY_BIND:$GATEWAY_HTTP_PORT"
origin_map="" origin_allow=""
IFS=',' read -ra origins <<< "$GATEWAY_ALLOWED_ORIGINS"
for origin in "${origins[@]}"; do
  origin="$(echo "$origin" | tr -d '[:space:]')"
  [ -z "$origin" ] && continue
  origin_map+="        \"$origin\" \"$origin\";"$'\n'
  origin_allow+="        \"$origin\" 0;"$'\n'
done
export GATEWAY_ORIGIN_MAP="$origin_map" GATEWAY_ORIGIN_ALLOW="$origin_allow"
servers=""
IFS=',' read -ra backends <<< "$GATEWAY_BACKENDS"
for backend in "${backends[@]}"; do
  backend="$(echo "$backend" | tr -d '[:space:]')"
  [ -n "$backend" ] && servers+="    server $backend max_fails=3 fail_timeout=10s;"$'\n'
done

# Upstreams, in one place.
cat > "$GATEWAY_PREFIX/upstreams.conf" <<CONF
# Rendered by gateway/run.sh from GATEWAY_BACKENDS.
upstream backend {
$servers    keepalive 32;
}
# Match-scoped traffic: both players of a match on the same node.
upstream backend_match {
    hash \$match_key consistent;
$servers    keepalive 32;
}
CONF

# \${GATEWAY_...} placeholders only: nginx's own \$variables stay.
render() {
  perl -pe 's/\$\{(GATEWAY_[A-Z_]+)\}/exists $ENV{$1} ? $ENV{$1} : die "unset $1\n"/ge' "$1" > "$2"
}
render "$here/nginx.conf.template" "$GATEWAY_PREFIX/nginx.conf"
render "$here/modsecurity/main.conf.template" "$GATEWAY_PREFIX/modsecurity/main.conf"
for f in headers.conf proxy-common.conf proxy.conf proxy-match.conf; do
  render "$here/$f" "$GATEWAY_PREFIX/$f"
done
for f in crs-setup.conf exclusions-before-crs.conf exclusions-after-crs.conf; do
  render "$here/modsecurity/$f" "$GATEWAY_PREFIX/modsecurity/$f"
done

if [ "${1:-}" = "--check" ]; then
  exec nginx -t -p "$GATEWAY_PREFIX" -c "$GATEWAY_PREFIX/nginx.conf" -e "$GATEWAY_PREFIX/logs/error.log"
fi
echo "gateway: https://localhost:$GATEWAY_HTTPS_PORT -> $GATEWAY_BACKENDS (prefix $GATEWAY_PREFIX)" >&2
exec nginx -p "$GATEWAY_PREFIX" -c "$GATEWAY_PREFIX/nginx.conf" -e "$GATEWAY_PREFIX/logs/error.log"
