#!/usr/bin/env bash
# The GPU check: one script, prepared on a machine with Node.js and run once on a GPU machine that has
# nvcc, CMake and python3 with PyTorch but no Node.js and no network.
#
#   bash bench/gpu-check.sh --prepare   here: builds dist/ if needed, packs node (xz) and the runtime
#                                       node_modules into .gpu/, prints the `carry` list and the size
#   bash bench/gpu-check.sh             there, from the repository root, with .gpu and dist carried:
#                                       builds the CPU and CUDA addons and the C++ parity test, then
#                                       1. device and environment    2. cuda_parity_test
#                                       3. training run, cuda vs cpu 4. dist/bench/gpu/check.js
#                                       5. CPU benchmarks at 1, 8, 16 threads with the peers
#                                       and writes $OUT/gpu-check.json (./gpu-check-out/ without OUT),
#                                       $OUT/gpu-check.log, and prints the table of targets last.
#   --tiny                              small sizes everywhere: a dry run on a machine without a GPU
#                                       (with AVGK_CUDA_ADDON=<emulator addon> it runs end to end)
#
# Every step has a time limit and a failed step is recorded and skipped past; the whole run stays
# inside GPU_CHECK_SECONDS (default 450). Environment: GPU_CHECK_CUDA_ARCHS (CMake architectures,
# default: the GPU's compute capability, e.g. 90-real), GPU_CHECK_JOBS (build jobs, default nproc).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
MODE=run
TINY=0
for arg in "$@"; do
  case "$arg" in
    --prepare) MODE=prepare ;;
    --tiny) TINY=1 ;;
    --build-cpu|--build-cuda) MODE=${arg#--} ;;  # internal: one build, run as a step
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu-check: unknown option $arg (--prepare, --tiny)" >&2; exit 64 ;;
  esac
done

say() { printf '[gpu-check %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
LIMIT_MIB=60

# ============================================================================ --prepare (here)

# The packages the check loads at run time (dist/src for the CLI and the library, dist/bench for
# the benchmarks, cmake-js and the N-API headers for builds); their dependencies are added below.
RUNTIME_PACKAGES="commander cli-progress node-addon-api cmake-js node-api-headers tinybench"

prepare() {
  command -v node >/dev/null || { echo "gpu-check --prepare: node is not on PATH" >&2; exit 1; }
  command -v xz >/dev/null || { echo "gpu-check --prepare: xz is not installed (apt-get install -y xz-utils)" >&2; exit 1; }
  if [ ! -f dist/bench/gpu/check.js ] || [ ! -f dist/src/cli/main.js ] || [ ! -f dist/bench/run.js ] ||
     [ -n "$(find src bench -name '*.ts' -newer dist/bench/gpu/check.js -print -quit)" ]; then
    say "building dist/ (npm run build)"
    npm run build >/dev/null || { echo "gpu-check --prepare: npm run build failed" >&2; exit 1; }
  fi
  mkdir -p .gpu

  # node: the binary running this script, xz-compressed; redone when the binary changes
  local node_bin stamp
  node_bin=$(node -p process.execPath)
  stamp="$node_bin $(node --version) $(stat -c '%s %Y' "$node_bin")"
  if [ ! -f .gpu/node.xz ] || [ "$(cat .gpu/node.stamp 2>/dev/null)" != "$stamp" ]; then
    say "compressing $node_bin ($(node --version), $(( $(stat -c %s "$node_bin") / 1048576 )) MiB) with xz -9"
    xz -9 -T0 -c "$node_bin" > .gpu/node.xz.tmp && mv .gpu/node.xz.tmp .gpu/node.xz || exit 1
    echo "$stamp" > .gpu/node.stamp
  fi

  # node_modules: the runtime packages and their dependency closure, plus stand-ins for vega and
  # vega-lite (imported by the report code, which the check never runs: it passes --no-report)
  local stage list
  stage=$(mktemp -d)
  list=$(node --input-type=module -e '
    import { existsSync, readFileSync } from "node:fs";
    import { dirname, join, relative } from "node:path";
    const root = join(process.cwd(), "node_modules");
    const seen = new Set();
    // Node resolution: <dir>/node_modules/<name>, then each parent folder up to the root
    const find = (from, name) => {
      for (let d = from; ; d = dirname(d)) {
        const p = join(d, "node_modules", name);
        if (existsSync(join(p, "package.json"))) return p;
        if (d === process.cwd() || d === dirname(d)) return null;
      }
    };
    const walk = (dir) => {
      const rel = relative(root, dir);
      if (seen.has(rel)) return;
      seen.add(rel);
      const pj = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      for (const dep of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) {
        const p = find(dir, dep);
        if (p) walk(p);
        else if (!(pj.optionalDependencies ?? {})[dep]) throw new Error(`${pj.name}: dependency ${dep} is not installed (npm install)`);
      }
    };
    for (const name of process.argv.slice(1)) {
      const p = find(process.cwd(), name);
      if (!p) throw new Error(`${name} is not installed (npm install)`);
      walk(p);
    }
    // a nested package travels with its parent folder
    const all = [...seen].sort();
    console.log(all.filter((r) => !all.some((o) => o !== r && r.startsWith(o + "/"))).join("\n"));
  ' $RUNTIME_PACKAGES) || { rm -rf "$stage"; echo "gpu-check --prepare: cannot list the runtime packages" >&2; exit 1; }
  mkdir -p "$stage/node_modules"
  # shellcheck disable=SC2086
  tar -C node_modules --exclude='*.md' --exclude='*.map' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' \
    -cf - $list | tar -C "$stage/node_modules" -xf - || { rm -rf "$stage"; exit 1; }
  for stub in vega vega-lite; do
    mkdir -p "$stage/node_modules/$stub"
    printf '{"name":"%s","version":"0.0.0-gpu-check-stub","type":"module","main":"index.js","exports":"./index.js"}\n' "$stub" \
      > "$stage/node_modules/$stub/package.json"
  done
  cat > "$stage/node_modules/vega/index.js" <<'JS'
// Stand-in packed by bench/gpu-check.sh: the GPU check never renders a report (--no-report).
const fail = () => { throw new Error('vega is not packed for the GPU check (pass --no-report)'); };
export const Warn = 2;
export const loader = fail;
export const parse = fail;
export class View { constructor() { fail(); } }
JS
  cat > "$stage/node_modules/vega-lite/index.js" <<'JS'
// Stand-in packed by bench/gpu-check.sh: the GPU check never renders a report (--no-report).
export const compile = () => { throw new Error('vega-lite is not packed for the GPU check (pass --no-report)'); };
JS
  echo "$list vega(stub) vega-lite(stub)" | tr '\n' ' ' > "$stage/node_modules/.gpu-check-packages"
  tar -C "$stage" -cJf .gpu/node_modules.tar.xz.tmp node_modules && mv .gpu/node_modules.tar.xz.tmp .gpu/node_modules.tar.xz || { rm -rf "$stage"; exit 1; }
  local packages
  packages=$(echo "$list" | wc -l)
  rm -rf "$stage"

  # what travels: tracked and untracked-not-ignored files, plus the carried folders
  local tree carried total
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    tree=$(git ls-files -z -co --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
  else
    tree=$(du -sb --exclude=node_modules --exclude=.gpu --exclude=dist --exclude='build*' --exclude=.git . | cut -f1)
  fi
  carried=$(du -sb .gpu dist | awk '{s += $1} END {print s}')
  total=$(( tree + carried ))
  mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
  say "packed: .gpu/node.xz $(mib "$(stat -c %s .gpu/node.xz)"), .gpu/node_modules.tar.xz $(mib "$(stat -c %s .gpu/node_modules.tar.xz)") ($packages packages + 2 stubs)"
  say "travels: working tree $(mib "$tree") + carried .gpu and dist $(mib "$carried") = $(mib "$total") (limit ${LIMIT_MIB} MiB)"
  echo 'carry: [".gpu", "dist"]'
  echo 'command: bash bench/gpu-check.sh    (timeout_s 600; results in $OUT/gpu-check.json and $OUT/gpu-check.log)'
  if (( total > LIMIT_MIB * 1048576 )); then
    echo "gpu-check --prepare: $(mib "$total") is over the ${LIMIT_MIB} MiB limit" >&2
    exit 1
  fi
}

if [ "$MODE" = prepare ]; then
  prepare
  exit $?
fi

# ============================================================================ the builds (steps)

GEN=()
KEEP_GOING=(-k)
if command -v ninja >/dev/null; then GEN=(-G Ninja); KEEP_GOING=(-k 0); fi

# The CPU addon through CMake (node-gyp would need node's headers from the network), copied to
# build/Release/avgk.node, where the library loads it.
if [ "$MODE" = build-cpu ]; then
  cmake -S . -B build-cpu "${GEN[@]}" -DAVGK_CPU_ADDON=ON -DCMAKE_BUILD_TYPE=Release &&
    cmake --build build-cpu -j "${JOBS:-$(nproc)}" &&
    mkdir -p build/Release && cp build-cpu/Release/avgk.node build/Release/avgk.node
  exit $?
fi

# The CUDA addon and cuda_parity_test in one configuration (the kernels compile once); the build
# keeps going past a failed file, since the two targets are independent.
if [ "$MODE" = build-cuda ]; then
  rc=0
  cmake -S . -B build-gpu "${GEN[@]}" -DAVGK_CUDA_TESTS=ON "-DAVGK_CUDA_ARCHS=${ARCHS:-90-real}" -DCMAKE_BUILD_TYPE=Release || exit 1
  cmake --build build-gpu -j "${JOBS:-$(nproc)}" -- "${KEEP_GOING[@]}" || rc=1
  if [ -f build-gpu/Release/avgk_cuda.node ]; then
    mkdir -p build-cuda/Release && cp build-gpu/Release/avgk_cuda.node build-cuda/Release/avgk_cuda.node
  else
    echo "build-gpu/Release/avgk_cuda.node was not built"
    rc=1
  fi
  [ -x build-gpu/cuda_parity_test ] || { echo "build-gpu/cuda_parity_test was not built"; rc=1; }
  exit $rc
fi

# ============================================================================ the run (there)

START=$(date +%s)
TOTAL=${GPU_CHECK_SECONDS:-$(( TINY ? 3600 : 450 ))}
DEADLINE=$(( START + TOTAL ))
OUT=${OUT:-$ROOT/gpu-check-out}
mkdir -p "$OUT"
WORK=$(mktemp -d -t avgk-gpu-check.XXXXXX)
mkdir -p "$WORK/logs"
LOG="$OUT/gpu-check.log"
: > "$LOG"
: > "$WORK/steps.tsv"
export JOBS=${GPU_CHECK_JOBS:-$(nproc)}
left() { echo $(( DEADLINE - $(date +%s) )); }

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$WORK/steps.tsv"; }

# run_step NAME LIMIT_S [RESERVE_S] -- CMD...: runs CMD with a time limit (cut so that RESERVE_S stay
# for the steps after it), its output in $WORK/logs/NAME.log and $LOG; records rc and seconds.
run_step() {
  local name=$1 limit=$2 reserve=0
  shift 2
  if [ "$1" != "--" ]; then reserve=$1; shift; fi
  shift
  local avail=$(( $(left) - reserve ))
  (( limit > avail )) && limit=$avail
  if (( limit < 5 )); then
    say "$name: skipped, out of time"
    record "$name" -1 0 0
    echo "== $name: skipped, out of time" >> "$LOG"
    return 255
  fi
  say "$name: running (limit ${limit} s)"
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout -k 10 "$limit" "$@" > "$WORK/logs/$name.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  local secs
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
  record "$name" "$rc" "$secs" "$limit"
  { echo "== $name (rc $rc, $secs s, limit $limit s): $*"; cat "$WORK/logs/$name.log"; echo; } >> "$LOG"
  if (( rc == 0 )); then
    say "$name: ok ($secs s)"
  else
    local what="failed (rc $rc)"
    (( rc == 124 || rc == 137 )) && what="TIMED OUT after $limit s"
    say "$name: $what ($secs s); the end of its log:"
    tail -n 8 "$WORK/logs/$name.log" | cut -c1-200 | sed 's/^/    /'
  fi
  return $rc
}

# the JSON and the table even when node itself is missing
finish_without_node() {
  local why=$1
  say "cannot run node: $why"
  printf '{"tool":"avgk GPU check (bench/gpu-check.sh)","error":"%s","steps":"%s"}\n' \
    "$(echo "$why" | sed 's/"/\\"/g')" "$(tr '\t\n' ' ;' < "$WORK/steps.tsv" | sed 's/"/\\"/g')" > "$OUT/gpu-check.json"
  echo "=================================================================================================="
  echo "avgk GPU check: no results (node could not run: $why); see $OUT/gpu-check.log"
  exit 1
}

say "start: $ROOT, time limit ${TOTAL} s, output $OUT$( (( TINY )) && echo ', tiny sizes')"

# ---- node and node_modules from .gpu/ (else whatever node is on PATH); python's lzma where xz is missing
unxz_to() {  # FILE.xz OUT
  if command -v xz >/dev/null; then xz -dc "$1" > "$2"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
untar_xz() {  # FILE.tar.xz (into the current folder)
  if command -v xz >/dev/null; then tar -xJf "$1"
  else python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1], "r:xz"); t.extractall(".", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))' "$1"; fi
}
if [ -f .gpu/node.xz ]; then
  mkdir -p "$WORK/node/bin"
  if unxz_to .gpu/node.xz "$WORK/node/bin/node.tmp" && chmod +x "$WORK/node/bin/node.tmp" &&
     mv "$WORK/node/bin/node.tmp" "$WORK/node/bin/node"; then
    export PATH="$WORK/node/bin:$PATH"
  else
    say "could not unpack .gpu/node.xz"
  fi
fi
command -v node >/dev/null || finish_without_node "no node on PATH and no .gpu/node.xz (run bash bench/gpu-check.sh --prepare where Node.js is, and carry .gpu)"
node --version >/dev/null 2>&1 || finish_without_node "node does not start: $(node --version 2>&1 | head -1)"
if [ ! -d node_modules ] && [ -f .gpu/node_modules.tar.xz ]; then
  untar_xz .gpu/node_modules.tar.xz || say "could not unpack .gpu/node_modules.tar.xz"
fi
[ -f dist/bench/gpu/check.js ] || finish_without_node "dist/bench/gpu/check.js is missing (carry dist, built by npm run build)"

# ---- step 1: the device and the environment
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="$PATH:/usr/local/cuda/bin"; fi
# not CC: that name may be exported already (the C compiler), and cmake would read it
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
export ARCHS=${GPU_CHECK_CUDA_ARCHS:-${CAP:-90}-real}
# the first python3 that has torch runs the peers (the GPU machine's python3 does)
TORCH_PY=""
TORCH_INFO="none"
for py in python3 /usr/bin/python3; do
  command -v "$py" >/dev/null || continue
  if info=$("$py" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available" if torch.cuda.is_available() else "unavailable")' 2>/dev/null); then
    TORCH_PY=$(command -v "$py")
    TORCH_INFO="python $info"
    break
  fi
done
{
  echo "== nvidia-smi -L"; nvidia-smi -L 2>&1
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap,clocks.max.sm,clocks.max.memory --format=csv 2>&1
  echo "== nvcc"; nvcc --version 2>&1 | tail -2
  echo "== cmake"; cmake --version 2>&1 | head -1
  echo "== ninja"; ninja --version 2>&1
  echo "== node"; command -v node; node --version
  echo "== python with torch"; echo "${TORCH_PY:-none} $TORCH_INFO"
  echo "== cpu"; nproc; grep -m1 'model name' /proc/cpuinfo
} > "$WORK/logs/env.log" 2>&1
{ echo "== env"; cat "$WORK/logs/env.log"; echo; } >> "$LOG"
GPU=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
SUMMARY="node $(node --version), nvcc $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' | cut -d' ' -f2), cmake $(cmake --version 2>/dev/null | head -1 | awk '{print $3}'), $(nproc) cores, $TORCH_INFO, archs $ARCHS"
{
  echo "gpu=${GPU:-none ($(command -v nvidia-smi >/dev/null && nvidia-smi -L 2>&1 | head -1 || echo 'no nvidia-smi'))}"
  echo "summary=$SUMMARY"
  echo "node=$(command -v node) $(node --version)"
  echo "torch_python=$TORCH_PY"
  echo "cuda_archs=$ARCHS"
  echo "tiny=$TINY"
} > "$WORK/env.txt"
say "env: GPU ${GPU:-none}; $SUMMARY"
record env 0 0 0

# ---- builds: the CPU addon and the CUDA addon + parity test, side by side
BUILD_LIMIT=$(( TINY ? 900 : 200 ))
run_step build-cpu "$BUILD_LIMIT" 200 -- bash "${BASH_SOURCE[0]}" --build-cpu &
CPU_BUILD=$!
run_step build-cuda "$BUILD_LIMIT" 180 -- bash "${BASH_SOURCE[0]}" --build-cuda &
CUDA_BUILD=$!

# ---- step 3 (data): a CNN on synthetic 32x32x3 images, the same run on each device (--tiny: an
# MLP on vectors, which the CPU emulator runs in seconds)
if (( TINY )); then
  DATA='{"name":"synthetic","numClasses":10,"numSuperclasses":2,"dim":16,"nTrain":512,"nVal":256,"nTest":256}'
  TRAIN_ARGS=(--model mlp --hidden 32 --epochs 2 --batch-size 64)
  CPU_THREADS=2
else
  DATA='{"name":"synthetic","numClasses":10,"numSuperclasses":2,"dim":16,"image":{"size":32,"channels":3},"nTrain":5000,"nVal":1000,"nTest":1000}'
  TRAIN_ARGS=(--model cnn --epochs 3 --batch-size 128)
  CPU_THREADS=6
fi
TRAIN=(node bin/avgk.js train --dataset-config "$DATA" --k 2 --seed 1 "${TRAIN_ARGS[@]}" --no-report --force)

wait $CPU_BUILD
# the CPU run trains while the CUDA build and the GPU steps go on (only its accuracy is compared)
run_step train-cpu $(( TINY ? 900 : 200 )) 120 -- "${TRAIN[@]}" --device cpu --threads "$CPU_THREADS" --out "$WORK/train-cpu" &
TRAIN_CPU=$!
wait $CUDA_BUILD

# ---- step 2: the kernels against the CPU kernels, on the GPU
if [ -x build-gpu/cuda_parity_test ]; then
  run_step parity-test $(( TINY ? 120 : 90 )) 200 -- build-gpu/cuda_parity_test
else
  say "parity-test: skipped, build-gpu/cuda_parity_test was not built"
  record parity-test -1 0 0
fi

# ---- step 3: the GPU training run
run_step train-gpu $(( TINY ? 900 : 90 )) 180 -- "${TRAIN[@]}" --device cuda --out "$WORK/train-gpu"
wait $TRAIN_CPU

# ---- step 4: TS-level parity, memory flatness, GPU benchmarks beside PyTorch
NODE_BUDGET=$(( $(left) - (TINY ? 120 : 95) ))
(( NODE_BUDGET > (TINY ? 1500 : 240) )) && NODE_BUDGET=$(( TINY ? 1500 : 240 ))
CHECK_ARGS=(--json "$WORK/node-check.json" --budget "$(( NODE_BUDGET > 30 ? NODE_BUDGET - 10 : 20 ))")
(( TINY )) && CHECK_ARGS+=(--tiny)
[ -n "$TORCH_PY" ] && CHECK_ARGS+=(--python "$TORCH_PY")
run_step node-check "$NODE_BUDGET" 90 -- node dist/bench/gpu/check.js "${CHECK_ARGS[@]}"

# ---- step 5: the CPU benchmarks at 1, 8 and 16 threads, beside numpy/OpenBLAS and PyTorch
if (( TINY )); then THREADS=1,2; else THREADS=1,8,16; fi
export AVGK_BENCH_TORCH_PYTHON=${TORCH_PY:-/usr/bin/python3}
run_step cpu-bench $(( TINY ? 600 : 110 )) 8 -- node dist/bench/run.js --quick --threads "$THREADS" \
  --filter '^(sgemm/square|train/|copy/|softmaxCrossEntropy|sigmoidBce|selectKth)' --peers-dir bench/peers \
  --json "$WORK/cpu-bench.json"

# ---- the summary: $OUT/gpu-check.json and the table
node dist/bench/gpu/check.js --summarize "$WORK" --json "$OUT/gpu-check.json" 2>&1 | tee "$WORK/logs/summary.log"
{ echo "== summary"; cat "$WORK/logs/summary.log"; } >> "$LOG"
[ -n "${GPU_CHECK_KEEP_WORK:-}" ] && say "kept $WORK" || rm -rf "$WORK"
say "done in $(( $(date +%s) - START )) s; $OUT/gpu-check.json, $OUT/gpu-check.log"
