# A single Elasticsearch node with x-pack security and TLS on HTTP, from the same integ-test-zip
# distribution scripts/es-node uses (es-node runs nodes without security). Source it after
# common.sh. Used by scripts/cli-test and scripts/security-test.
#
#   secure_node_prepare DIR PORT PLUGIN_ZIP PASSWORD CLUSTER   unpack, CA + node certificate
#       (elasticsearch-certutil --pem), plugin installed, the elastic password as the keystore's
#       bootstrap.password, elasticsearch.yml; sets SECURE_HOME. Add users and roles before starting.
#   secure_node_start DIR                                      start as the node user, wait for yellow;
#       sets SECURE_PID
#   secure_node_stop                                           stop the node secure_node_start started
#   secure_curl ARGS...                                        curl with the CA, as elastic (JSON)
#
# The distribution zip comes from es-node's work directory (resolved through Maven when missing).

SECURE_HOME=""; SECURE_PID=""; SECURE_PASSWORD=""; SECURE_URL=""
SECURE_ES_USER="${FUSERANK_ES_USER:-fuserank-es}"

secure_as_node_user() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$SECURE_ES_USER" -- "$@"; else "$@"; fi; }
secure_es_tool() { env -u JAVA_HOME ES_JAVA_HOME="$JAVA_HOME" "$@"; }
secure_ca() { printf '%s\n' "$SECURE_HOME/config/certs/ca/ca.crt"; }
secure_curl() { curl -fsS --cacert "$(secure_ca)" -u "elastic:$SECURE_PASSWORD" -H 'Content-Type: application/json' "$@"; }

# The distribution zip in es-node's work directory, resolved through Maven when missing.
secure_distribution() {
  local dist="$1/dist/elasticsearch-$ES_VERSION.zip"
  if [ ! -f "$dist" ]; then
    (cd "$FUSERANK_ROOT" && mvn_quiet -N org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
        -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
        -DoutputDirectory="$1/dist") >&2 || return 1
  fi
  printf '%s\n' "$dist"
}

secure_node_prepare() {
  local dir="$1" port="$2" zip="$3" work dist
  SECURE_PASSWORD="$4"
  SECURE_URL="https://127.0.0.1:$port"
  work="$(dirname "$dir")"
  dist="$(secure_distribution "$(dirname "$work")")" || { echo "  cannot resolve the Elasticsearch distribution"; return 1; }
  SECURE_HOME="$dir/elasticsearch-$ES_VERSION"
  rm -rf "$dir" && mkdir -p "$dir" && unzip -q "$dist" -d "$dir" || return 1
  (cd "$SECURE_HOME" \
    && secure_es_tool bin/elasticsearch-certutil ca --pem --silent --out ca.zip \
    && unzip -q ca.zip -d config/certs \
    && secure_es_tool bin/elasticsearch-certutil cert --pem --silent --ca-cert config/certs/ca/ca.crt --ca-key config/certs/ca/ca.key \
         --name node --ip 127.0.0.1 --dns localhost --out node.zip \
    && unzip -q node.zip -d config/certs \
    && secure_es_tool bin/elasticsearch-plugin install --batch "file://$zip" >/dev/null 2>&1 \
    && secure_es_tool bin/elasticsearch-keystore create >/dev/null \
    && printf '%s' "$SECURE_PASSWORD" | secure_es_tool bin/elasticsearch-keystore add --stdin bootstrap.password >/dev/null) \
    || { echo "  setting up the secure node failed"; return 1; }
  cat > "$SECURE_HOME/config/elasticsearch.yml" <<YML
cluster.name: $5
node.name: $5-1
network.host: 127.0.0.1
http.port: $port
discovery.type: single-node
path.data: $dir/data
path.logs: $dir/logs
xpack.security.enabled: true
xpack.security.http.ssl.enabled: true
xpack.security.http.ssl.key: certs/node/node.key
xpack.security.http.ssl.certificate: certs/node/node.crt
xpack.security.http.ssl.certificate_authorities: [certs/ca/ca.crt]
YML
}

secure_node_start() {
  local dir="$1" log
  if [ "$(id -u)" -eq 0 ]; then chown -R "$SECURE_ES_USER" "$dir"; fi
  secure_as_node_user env -u JAVA_HOME ES_JAVA_HOME="$JAVA_HOME" ES_JAVA_OPTS="-Xms512m -Xmx512m" \
    "$SECURE_HOME/bin/elasticsearch" -d -p "$dir/node.pid" > "$dir/start.out" 2>&1 \
    || { tail -n 20 "$dir/start.out"; return 1; }
  SECURE_PID="$(cat "$dir/node.pid")"
  local deadline=$((SECONDS + 180))
  until secure_curl "$SECURE_URL/_cluster/health?wait_for_status=yellow&timeout=2s" >/dev/null 2>&1; do
    if ! kill -0 "$SECURE_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      for log in "$dir"/logs/*.log; do tail -n 20 "$log"; done
      return 1
    fi
    sleep 1
  done
}

secure_node_stop() {
  [ -n "$SECURE_PID" ] || return 0
  kill -TERM "$SECURE_PID" 2>/dev/null
  for _ in $(seq 1 60); do kill -0 "$SECURE_PID" 2>/dev/null || { SECURE_PID=""; return 0; }; sleep 1; done
  kill -KILL "$SECURE_PID" 2>/dev/null; SECURE_PID=""; return 1
}
