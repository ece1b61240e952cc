# Shared helpers for fuserank's scripts. Source it; it defines functions and variables only.

FUSERANK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ES_VERSION="9.5.3"

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
note() { printf '[fuserank] %s\n' "$*" >&2; }

# Prints the major version of the JDK at $1 (a JAVA_HOME), or nothing if it is not a JDK.
java_major() {
  [ -x "$1/bin/java" ] || return 0
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}

# Finds a JDK 21+ (Elasticsearch 9 needs it): $JAVA_HOME if new enough, else the newest JDK
# under /usr/lib/jvm (FUSERANK_JVM_DIR). Exports JAVA_HOME or dies saying why.
require_java21() {
  local candidate major best="" best_major=0 jvm_dir="${FUSERANK_JVM_DIR:-/usr/lib/jvm}"
  for candidate in "${JAVA_HOME:-}" "$jvm_dir"/*; do
    [ -n "$candidate" ] || continue
    major="$(java_major "$candidate")"
    [ -n "$major" ] || continue
    if [ "$candidate" = "${JAVA_HOME:-}" ] && [ "$major" -ge 21 ]; then best="$candidate"; break; fi
    if [ "$major" -ge 21 ] && [ "$major" -gt "$best_major" ]; then best="$candidate"; best_major="$major"; fi
  done
  [ -n "$best" ] || die "no JDK 21+ found (JAVA_HOME=[${JAVA_HOME:-unset}], $jvm_dir has [$(ls "$jvm_dir" 2>/dev/null | tr '\n' ' ')]); Elasticsearch ${ES_VERSION} needs Java 21+: install one and set JAVA_HOME"
  export JAVA_HOME="$best"
}

# Runs Maven in batch mode with the JDK 21+ (extra arguments go to mvn).
run_mvn() {
  require_java21
  command -v mvn >/dev/null || die "mvn not found: run scripts/setup first"
  local opts="${MAVEN_OPTS:-}"
  # Maven 3.8's bundled Guava trips JDK 24+'s sun.misc.Unsafe warnings; allow it quietly there.
  if [ "$(java_major "$JAVA_HOME")" -ge 24 ]; then opts="$opts --sun-misc-unsafe-memory-access=allow"; fi
  MAVEN_OPTS="$opts" mvn -B -Dstyle.color=never "$@"
}

mvn_quiet() { run_mvn -q "$@"; }

# Succeeds when build output FILE is missing or older than a source or pom of any of the modules
# named after it (a jar or zip left by an earlier build must not hide changed code).
build_is_stale() {
  local file="$1" module
  shift
  [ -f "$file" ] || return 0
  [ -n "$(find "$FUSERANK_ROOT/pom.xml" -newer "$file" -print -quit)" ] && return 0
  for module in "$@"; do
    [ -n "$(find "$FUSERANK_ROOT/$module/pom.xml" "$FUSERANK_ROOT/$module/src/main" -newer "$file" -print -quit 2>/dev/null)" ] && return 0
  done
  return 1
}

# The Python virtual environment lives outside the clone, keyed by the requirements' hash, so a
# fresh clone on a machine that already built it reuses it; FUSERANK_VENV overrides the place.
venv_dir() {
  local req="$FUSERANK_ROOT/encoder/training/requirements.txt"
  if [ -n "${FUSERANK_VENV:-}" ]; then printf '%s\n' "$FUSERANK_VENV"; return; fi
  printf '%s/fuserank/venv-%s\n' "${XDG_CACHE_HOME:-$HOME/.cache}" "$(sha256sum "$req" | cut -c1-12)"
}

# Dies unless the directory $1 holds no file tracked by git, or $2 is "force": scripts that write a
# model bundle must not overwrite a shipped one (models/fuserank-small) by default.
require_untracked_out() {
  local out="$1" force="${2:-}" tracked
  # A directory outside the clone is never tracked (git ls-files then fails).
  tracked="$(git -C "$FUSERANK_ROOT" ls-files -- "$out" 2>/dev/null | head -n 1 || true)"
  [ -z "$tracked" ] || [ "$force" = force ] \
    || die "--out [$out] holds files tracked by git (e.g. [$tracked]): a shipped model; choose another --out, or pass --force to overwrite it"
}
