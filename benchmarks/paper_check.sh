#!/usr/bin/env bash
# Paper-scale check of the whole pipeline on whatever device JAX finds (meant for a GPU machine):
# discover --preset paper from nothing (seed 0, cold compilation cache), its report, the ladder's
# encoder samples/s at paper shapes (8 chains x 4 temperatures), then seeds 1 and 2 on the same
# data, each step skipped when the time budget is spent. Wheels the machine lacks (pysindy,
# derivative, importlib_metadata, lazy-importer, arviz-stats) go in ./.whl. Logs and results
# (without HDF5 files and checkpoints) are packed into RESULTS/results.tar.gz after every step.
# Usage, from the repository root: bash benchmarks/paper_check.sh RESULTS [BUDGET_S]
# (PRESET=quick for a dry run on a CPU).
PRESET=${PRESET:-paper}; R=${1:?}; BUDGET=${2:-540}; T=$(mktemp -d); START=$(date +%s)
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg EAE_SINDY_COMPILATION_CACHE=$T/jaxcache
if ls .whl/*.whl > /dev/null 2>&1; then  # an offline machine: install the carried wheels
  python3 -m pip install -q --no-index --no-deps --no-compile --target $T/site .whl/*.whl || exit 1
fi
export PYTHONPATH=$T/site:$PWD
L=$R/log.txt
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
pack() { (cd $T && tar czf $R/results.tar.gz --exclude='*.h5' --exclude='*.msgpack' --exclude=jaxcache --exclude=site . ); }
step() { # step NAME MIN CAP CMD...: run CMD if MIN s are left, for at most CAP s; log exit and wall
  local name=$1 min=$2 cap=$3; shift 3
  if [ "$(left)" -lt "$min" ]; then echo "$name: skipped ($(left) s left)" >> $L; return; fi
  local s=$(date +%s%N) lim=$(( $(left) - 10 )); [ $lim -gt $cap ] && lim=$cap
  timeout $lim "$@" > $T/$name.log 2>&1
  echo "$name: exit $? wall $(ms $s) ms (limit $lim s)" >> $L; tail -14 $T/$name.log >> $L; pack
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> $L
python3 -c "import jax, numpy; print('jax', jax.__version__, jax.devices(), 'numpy', numpy.__version__)" >> $L 2>&1
nproc >> $L
# 1. paper preset, seed 0, from nothing: simulation (JAX on the GPU), cold compile cache, training, collection
step paper0 150 330 python3 -m eae_sindy.discover --preset $PRESET --seed 0 --out $T/paper0 --no-report
# 2. its report (host CPU)
step report0 60 150 python3 -m analysis.report $T/paper0
# 3. encoder samples/s: 8 chains x 4 temperatures at paper shapes
step ladder 60 110 python3 benchmarks/ladder.py --preset $PRESET --chains 8 --rungs 4 --repeats 3
# 4. seed 1 on the same data, warm compile cache, with its report
step paper1 150 400 python3 -m eae_sindy.discover --preset $PRESET --seed 1 --data $T/paper0/data.h5 --out $T/paper1 --quiet
step paper2 150 400 python3 -m eae_sindy.discover --preset $PRESET --seed 2 --data $T/paper0/data.h5 --out $T/paper2 --quiet
echo "done, $(left) s of the budget left" >> $L; pack
