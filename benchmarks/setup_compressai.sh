#!/usr/bin/env bash
# Install CompressAI into benchmarks/.compressai-site for benchmarks/foundation.py only.
#
# CompressAI 1.2.8 declares torchvision, torch-geometric, pandas, requests, matplotlib ...
# as dependencies. None of them is used by the code paths the benchmark runs (entropy
# models, rANS, zoo models), and torchvision has no CPU build for our torch. So everything
# is installed with --no-deps into a separate directory (never into the project venv, so
# pip can not touch torch or numpy there), and foundation.py puts that directory on
# sys.path and stubs the modules that compressai imports at import time but never uses:
#   torchvision.transforms, torch_geometric.{data,data.datapipes,transforms}  (registry,
#   point-cloud transforms), pandas (ShapeNet dataset), requests (dataset download helper).
# The two small pure-python packages it imports at top level are installed for real:
#   einops (point-cloud layers/losses), pytorch-msssim (rate-distortion loss).
# scipy (used by GaussianConditional.update) and numpy come from the project venv.
#
# Usage: bash benchmarks/setup_compressai.sh   (uses the active python, else .venv)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
target="$here/.compressai-site"

if [[ -n "${VIRTUAL_ENV:-}" ]]; then
    python="$VIRTUAL_ENV/bin/python"
else
    python="$root/.venv/bin/python"
fi

"$python" -m pip install --quiet --no-deps --upgrade --target "$target" \
    compressai==1.2.8 einops==0.8.2 pytorch-msssim==1.0.0

# The wheel must carry the compiled rANS coder for this interpreter.
shopt -s nullglob
tag="$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
ans=("$target"/compressai/ans*"$tag")
if [[ ${#ans[@]} -eq 0 ]]; then
    echo "error: no compressai/ans*$tag in $target (no binary wheel for this Python?)" >&2
    exit 1
fi
echo "CompressAI installed in $target (${ans[0]##*/})"
