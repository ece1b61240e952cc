# Shared by benchmarks/bin/*: sources scripts/lib/common.sh, finds a JDK 21+ and the benchmarks
# jar (building the module first if it is missing). Source it; it defines functions and variables only.

source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib/common.sh"

# Prints the class path of the benchmarks module (its jar and target/lib/*), building it if needed.
benchmarks_classpath() {
  local target="$FUSERANK_ROOT/benchmarks/target" jar
  jar="$(ls "$target"/fuserank-benchmarks-*.jar 2>/dev/null | head -n 1 || true)"
  if [ -z "$jar" ] || [ ! -d "$target/lib" ] || build_is_stale "$jar" encoder reranker index-tools benchmarks; then
    note "building the benchmarks module (its jar or target/lib is missing, or older than the code)"
    (cd "$FUSERANK_ROOT" && run_mvn -q -pl benchmarks -am package -DskipTests) >&2
    jar="$(ls "$target"/fuserank-benchmarks-*.jar 2>/dev/null | head -n 1 || true)"
    [ -n "$jar" ] || die "the build wrote no fuserank-benchmarks jar to [$target]"
  fi
  printf '%s:%s/lib/*\n' "$jar" "$target"
}

# JVM flags every benchmarks main needs: native access for ONNX Runtime's JNI library, quiet
# DJL logging, and on JDK 24+ JMH's and Guava's sun.misc.Unsafe use allowed without warnings.
benchmarks_java_opts() {
  printf '%s\n' --enable-native-access=ALL-UNNAMED -Dorg.slf4j.simpleLogger.defaultLogLevel=warn
  if [ "$(java_major "$JAVA_HOME")" -ge 24 ]; then printf '%s\n' --sun-misc-unsafe-memory-access=allow; fi
}

# Prints the directory of the synthetic test split (1,000 images, seed 0: test.json and images/),
# generating it with encoder/training/scenes.py first when it is missing.
scenes_test_split() {
  local scenes="$FUSERANK_ROOT/work/data/scenes" python
  if [ ! -f "$scenes/test.json" ]; then
    "$FUSERANK_ROOT/scripts/setup" >&2
    python="$(venv_dir)/bin/python"
    note "generating the synthetic test split (1,000 images, seed 0) in $scenes"
    (cd "$FUSERANK_ROOT/encoder/training" && "$python" scenes.py --out "$scenes" --train 0 --val 0 --test 1000 --seed 0 >/dev/null)
  fi
  printf '%s\n' "$scenes"
}
