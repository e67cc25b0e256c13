#!/usr/bin/env bash
# GPU checks, prepared to run once on a lent GPU machine (15 minutes of device time in all).
# Needs: python3 with torch (CUDA), numpy, tqdm, Pillow; the repo on PYTHONPATH; the CIFAR-10 subset
# under $NAS_DATA_DIR/cifar10/ (the device tool carries it as .devdata/). Ray is not required.
# Each step prints its headline last as name=value; logs go to ${OUT:-/tmp}/gpu_check.log.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export NAS_DATA_DIR="${NAS_DATA_DIR:-$PWD/.devdata}" NAS_CACHE_DIR="${NAS_CACHE_DIR:-/tmp/nas-cache}"
log="${OUT:-/tmp}/gpu_check.log"
step() { echo "== $*" | tee -a "$log"; timeout 240 "$@" 2>&1 | tee -a "$log"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$log"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$log"
# 1. Supernet training step vs the stand-alone child, AMP bf16 + channels_last (target >= 0.95 images/s ratio).
step python3 bench/supernet_step.py --device cuda --width 1.0 --batch-size 256 --repeats 30
# 2. Candidate evaluation with recalibration vs the same forward passes on stand-alone nets.
step python3 bench/evaluate_candidate.py --device cuda --width 1.0 --calibration-images 2048 --val-images 5000 --candidates 8
# 3. Evaluation throughput with 1, 2, 4 evaluators sharing the GPU.
step python3 bench/gpu_eval_sharing.py --width 1.0 --candidates 32
# 4. Real supernet training on the GPU: images/s over 300 steps of batch 256 (CIFAR-10 subset).
rm -rf /tmp/gpu-sn
step python3 -c "
import torch
from pathlib import Path
from nas.supernet.loading import DataConfig
from nas.supernet.pipeline import train_into
from nas.supernet.train import TrainConfig
train_into(Path('/tmp/gpu-sn'), 'shufflenet', {'width': 1.0}, DataConfig('cifar10-subset', 500, 0, None),
           TrainConfig(steps=300, batch_size=256, lr=0.2), torch.device('cuda'), quiet=True)
"
python3 - <<'PY' 2>&1 | tee -a "$log"
import json
rows = [json.loads(l) for l in open("/tmp/gpu-sn/training.jsonl")]
steps, seconds = rows[-1]["step"], rows[-1]["seconds"]
print(f"supernet training: {steps} steps x 256 images in {seconds:.1f} s")
print(f"gpu_supernet_train_images_per_s={steps * 256 / seconds:.0f}")
PY
