#!/usr/bin/env bash
# Runs the CUDA side of every benchmark, the GPU-only tests and a fractional-GPU Ray Tune sweep, writing
# JSON lines / logs to $OUT (default ./bench_out). Used on the lent H100/H200 (see docs/PERFORMANCE.md):
#   bash .devcarry/install.sh && export PYTHONPATH=/tmp/site:$PWD && bash benchmarks/gpu_suite.sh [part ...]
# Parts: info knn kmeans palm nola tts slowformer cmsf compgs tests ray (default: all, in that order), and on request:
#   nola_gpt2 (Table 3.11's GPT-2 L setting), tts_ratio (eager + graph only), sweeps_cpu (8 trials at once vs one at
#   a time), sweeps_gpu (1 vs 4 trials per GPU, and gpu=auto), mps (sweeps_gpu's settings under CUDA MPS).
set -u
OUT=${OUT:-bench_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg RAY_USAGE_STATS_ENABLED=0
py=${PYTHON:-python3}
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(info knn kmeans palm nola tts slowformer cmsf compgs tests ray)

step() {  # name, command...: time one step, keep its output, never stop the suite on a failure
  local name=$1; shift
  local t0=$(date +%s)
  echo "=== $name: $*"
  "$@" >"$OUT/$name.jsonl" 2>"$OUT/$name.err"
  local rc=$?
  echo "=== $name rc=$rc $(( $(date +%s) - t0 ))s"
  tail -n 20 "$OUT/$name.jsonl"
  [ $rc -ne 0 ] && tail -n 15 "$OUT/$name.err"
  return 0
}

for part in "${parts[@]}"; do
  case $part in
    info) nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
          $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" ;;
    knn) step knn $py benchmarks/knn.py --iters 20 ;;
    kmeans) step compgs_kmeans $py benchmarks/compgs_kmeans.py --n 2000000 --k 4096 --dim 45 ;;
    palm) step palm_step $py benchmarks/palm_step.py --arch wrn28_10 --size 32 --batch 200 --iters 10 --devices cuda ;;
    nola) step nola_step $py benchmarks/nola_step.py ;;
    tts) step tts_latency $py benchmarks/tts_latency.py --archs revcol_mini,revcol_tiny --iters 30 ;;
    slowformer) step slowformer_patch $py benchmarks/slowformer_patch_speed.py --models small_vit deit_tiny_patch16_224 --batch 64 ;;
    cmsf) step cmsf_nn $py benchmarks/cmsf_nn_overhead.py --arch resnet18 --image-size 64 --batch 128 --bank 128000 --devices cuda ;;
    compgs) for f in benchmarks/compgs_raster*.py; do [ -f "$f" ] && step "$(basename "$f" .py)" $py "$f"; done ;;
    tests) step gpu_tests $py -m pytest -q -m gpu -p no:cacheprovider tests ;;
    ray) find "$(python3 -c "import ray, os; print(os.path.dirname(ray.__file__))")/core" -type f -path "*src*" -exec chmod +x {} + 2>/dev/null
         step ray_gpu_sweep $py -m orchestrator run palm/table1 --scale smoke --set-resources gpu=0.25 \
           --set-resources cpu=2 --tracking-uri "sqlite:////tmp/gpu_mlruns.db" --storage-path /tmp/ray_results ;;
    nola_gpt2) step nola_gpt2 $py benchmarks/nola_gpt2_step.py --preset gpt2-large --seq 512 --batch 8 ;;
    tts_ratio) step tts_ratio $py benchmarks/tts_latency.py --archs revcol_tiny --modes none,graph --batches 1,32 --iters 30 ;;
    sweeps_cpu) step sweeps_cpu $py benchmarks/sweep_local.py sweeps/palm/table1.yaml --scale smoke --ray \
                  --set method=cotta --seeds 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 \
                  --runs max_concurrent=1,cpu=1,gpu=0 max_concurrent=8,cpu=1,gpu=0 ;;
    sweeps_gpu) step sweeps_gpu $py benchmarks/sweep_local.py sweeps/palm/table1.yaml --scale smoke --ray \
                  --seeds 0,1 --runs gpu=1,cpu=2 gpu=0.25,cpu=2 gpu=auto,cpu=2 ;;
    mps) export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
         mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
         if nvidia-cuda-mps-control -d; then
           step sweeps_gpu_mps $py benchmarks/sweep_local.py sweeps/palm/table1.yaml --scale smoke --ray \
             --seeds 0,1 --runs gpu=1,cpu=2 gpu=0.25,cpu=2
           echo quit | nvidia-cuda-mps-control
         else echo "=== mps: nvidia-cuda-mps-control could not start"; fi
         unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY ;;
    *) echo "unknown part $part" ;;
  esac
done
