#!/usr/bin/env bash
# The accelerator check (issue 19 item 5): bench/accelerator_check.py on a lent GPU, with what jaxquba needs beyond
# the device image's packages (which has jax with its CUDA plugin, flax, optax, orbax, pandas, pyarrow, pillow,
# scipy, torch, timm, ...) installed from wheels carried in .whl/.
#
#   bash bench/accelerator_check.sh --download   # here, once (needs the package registry): the wheels for the
#                                                # device's Python 3.12 into .whl/ (git-ignored)
#   bash bench/accelerator_check.sh OUT          # on the device (the device tool: carry .whl, and .accel_data
#                                                # for the views benchmark's photos, see below); ~8 minutes
#
# .accel_data (optional, git-ignored): a copy of ../shared/data/imagenet_samples with a few photos and their
# labels.csv rows, so bench/views.py can compare the corruptions with imagecorruptions on real photos.
set -euo pipefail
cd "$(dirname "$0")/.."

# tensorflow-datasets and grain with their requirements the device image lacks; imagecorruptions for the frost
# images it ships (read as files, never imported). Pinned to the versions this project is tested with.
WHEELS=(tensorflow-datasets==4.9.10 grain==0.2.18 array-record==0.8.6 dm-tree==0.1.10
        simple-parsing==0.1.9 docstring-parser==0.18.0 tensorflow-metadata==1.21.0 googleapis-common-protos==1.76.0
        termcolor==3.3.0 toml==0.10.2 immutabledict==4.3.1 portpicker importlib_resources imagecorruptions==1.1.2)

if [ "${1:-}" = "--download" ]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  grep -qx '/.accel_data/' .git/info/exclude 2>/dev/null || echo '/.accel_data/' >> .git/info/exclude
  rm -rf .whl && mkdir -p .whl
  platforms=()
  for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64 any; do
    platforms+=(--platform "$p")
  done
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl "${WHEELS[@]}"
  python3 -m pip wheel -q --no-deps -w .whl promise==2.3  # pure Python, published as source only
  du -sh .whl
  exit 0
fi

out=${1:?usage: bash bench/accelerator_check.sh OUT_DIR  (or --download, here)}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
[ -d .accel_data ] && export JAXQUBA_SHARED_DATA="$PWD/.accel_data"
python3 bench/accelerator_check.py --out "$out" "${@:2}"
