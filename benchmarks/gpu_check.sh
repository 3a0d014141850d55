#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA GPU, the course's GPU route measured in one go, its figures in one JSON file.
# Every step has a time limit; together they bound the check at 7 min 50 s (plus installing the wheels).
#
#   bash benchmarks/gpu_check.sh [OUTDIR]     # OUTDIR: default $OUT if set, else build/gpu_check
#
# On a machine without a CUDA GPU it says so and exits 0 without running anything.
# What it runs, each step bounded by a timeout and logged to OUTDIR/<step>.log:
#   data       mini-flowers generated (the machine may start bare)
#   notebooks  notebooks 03 and 04 under nbval, training on the GPU (flowerkit.device.pick_device); GPU_CHECK_NOTEBOOKS
#              names others instead (e.g. "02 05 06 08", for a second call while the machine is warm: the data step and
#              those notebooks only, 8 minutes at most, no JSON: read notebooks_more.log)
#   capstone   python -m flowerkit.teams: the four pipelines for one budget on the GPU, with each team's data-wait share
#   loading    benchmarks/loading.py --quick with as many workers as cores, 64 and 128 px, uint8 to the GPU included
#   gpu        benchmarks/gpu.py: pinned vs pageable copies, non_blocking overlap, nvJPEG decode
# A machine that starts bare gets its missing Python packages from wheels in .whl/ (see README, "On a GPU"):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 ... -d .whl nbval ipykernel ...
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUTDIR="${1:-${OUT:-build/gpu_check}}"

if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu_check: no CUDA GPU here (torch.cuda.is_available() is False with $PY): nothing to measure, nothing run"
  exit 0
fi
mkdir -p "$OUTDIR"
WHEELS="${GPU_CHECK_WHEELS:-.whl}"  # the carried wheels (the tests point it at an empty folder)
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/flowerkit-site "$WHEELS"/*.whl \
    || { echo "gpu_check: installing the carried wheels failed"; exit 1; }
  export PYTHONPATH="/tmp/flowerkit-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export FLOWERKIT_DATA="${FLOWERKIT_DATA:-$PWD/data}"
CORES="$("$PY" -c 'from flowerkit.facts import cpu_count; print(cpu_count())')"
"$PY" -c "import torch; print('gpu_check:', torch.cuda.get_device_name(), 'torch', torch.__version__, '$CORES cores')"

: > "$OUTDIR/steps.tsv"
step() {  # step NAME SECONDS COMMAND...: run it under a timeout, log it, record its exit code and seconds
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s%N)
  timeout "$limit" "$@" >"$OUTDIR/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( ($(date +%s%N) - start) / 1000000 ))" | tee -a "$OUTDIR/steps.tsv"
}

step data 40 "$PY" -m flowerkit data
if [ -n "${GPU_CHECK_NOTEBOOKS:-}" ]; then  # a second call: the other notebooks that train, on the GPU, and nothing else
  mapfile -t chosen < <(for n in $GPU_CHECK_NOTEBOOKS; do ls notebooks/"$n"_*.ipynb 2>/dev/null; done)
  if [ "${#chosen[@]}" -ne "$(wc -w <<<"$GPU_CHECK_NOTEBOOKS")" ]; then
    echo "gpu_check: GPU_CHECK_NOTEBOOKS=\"$GPU_CHECK_NOTEBOOKS\" names a notebook that is not in notebooks/ (use numbers: 02 05)"
    exit 2
  fi
  step notebooks_more 440 "$PY" -m pytest -p no:cacheprovider "${chosen[@]}" \
    --nbval-lax --nbval-current-env --nbval-cell-timeout=240 -q
  exit 0
fi
step notebooks 150 "$PY" -m pytest -p no:cacheprovider notebooks/03_load.ipynb notebooks/04_three_teams.ipynb \
  --nbval-lax --nbval-current-env --nbval-cell-timeout=120 -q
step capstone 100 "$PY" -m flowerkit.teams --quiet
step loading64 60 "$PY" benchmarks/loading.py --quick --repeat 3 --size 64 --workers "$CORES"
step loading128 60 "$PY" benchmarks/loading.py --quick --repeat 3 --size 128 --workers "$CORES"
step gpu 60 "$PY" benchmarks/gpu.py
"$PY" benchmarks/gpu_summary.py "$OUTDIR" | tee "$OUTDIR/gpu_check.json"
