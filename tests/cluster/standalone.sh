#!/usr/bin/env bash
# A scan on a real Spark cluster, the way docs/spark.md tells a data engineer to run one: a
# standalone master and worker (their own JVMs; the worker launches the executors), the job
# sent with spark-submit, flowscan and its dependencies shipped to the executors as a packed
# virtual environment (venv-pack, --archives), findings through a staging folder, the run
# directory written to a URI and the tables as Spark Parquet datasets. Then the run directory
# is compared with the local engine's, file by file.
#
# Not part of the pytest suite (it installs a virtual environment and starts a cluster, several
# minutes); run it by hand from a clone:
#
#     bash tests/cluster/standalone.sh [WORK_DIR]
#
# It needs Java 17 or 21 and the package index. It exits 0 when the cluster's run directory
# matches the local one, 1 otherwise; the cluster's logs stay in WORK_DIR.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$(mktemp -d /tmp/flowscan-cluster.XXXXXX)}
mkdir -p "$work"
cd "$work"
echo "work dir: $work"

python3.11 -m venv env
env/bin/pip install -q --upgrade pip
env/bin/pip wheel -q "$repo" --no-deps -w dist/
env/bin/pip install -q "$(ls dist/flowscan-*.whl)[spark]" venv-pack
env/bin/venv-pack -q -f -p env -o flowscan-env.tar.gz  # -p: the env need not be activated

# the bundled sample as a canonical ledger, and the local engine's run of it (the reference)
env/bin/python - <<'EOF'
import shutil
import flowscan
from flowscan.fixtures import SYNTHETIC_SAMPLE

read = flowscan.read_ledger(SYNTHETIC_SAMPLE / "transactions.parquet")
import pyarrow.parquet as pq
pq.write_table(read.ledger, "ledger.parquet")
shutil.copytree(SYNTHETIC_SAMPLE / "reference", "reference", dirs_exist_ok=True)
flowscan.write_run(flowscan.scan("ledger.parquet", reference="reference"), "local-run", report_alerts=0)
EOF

export SPARK_HOME=$(env/bin/python -c "import pyspark, os; print(os.path.dirname(pyspark.__file__))")
export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOG_DIR=$work/logs
mkdir -p logs worker
"$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port 7077 \
    --webui-port 8090 > logs/master.log 2>&1 &
master=$!
"$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker spark://127.0.0.1:7077 --cores 2 \
    --memory 4g --work-dir "$work/worker" --webui-port 8091 > logs/worker.log 2>&1 &
worker=$!
trap 'kill $worker $master 2>/dev/null || true' EXIT
for _ in $(seq 60); do grep -q "Successfully registered with master" logs/worker.log && break; sleep 1; done
grep -q "Successfully registered with master" logs/worker.log || { echo "the worker did not register"; exit 1; }

cat > scan_job.py <<EOF
import sys
from flowscan import spark as fs

found = fs.scan("file://$work/ledger.parquet", reference="$work/reference", buckets=3,
                staging="file://$work/staging")
fs.write_run(found, "file://$work/cluster-run", report_alerts=0)
fs.write_datasets(found, "file://$work/datasets")
print("executors' python:", fs.session().sparkContext.parallelize([0], 1).map(lambda _: sys.executable).first())
EOF

# client mode (a standalone master runs Python drivers in client mode): the driver on this
# venv's Python, the executors on the packed one
PYSPARK_DRIVER_PYTHON=$work/env/bin/python PYSPARK_PYTHON=./environment/bin/python \
    "$SPARK_HOME/bin/spark-submit" --master spark://127.0.0.1:7077 \
    --archives flowscan-env.tar.gz#environment \
    --conf spark.executorEnv.NUMBA_CACHE_DIR=/tmp/flowscan-numba-cluster \
    --conf spark.ui.enabled=false \
    scan_job.py > logs/job.out 2> logs/job.err
cat logs/job.out

status=0
for name in accounts alerts evidence rejects; do
    if cmp -s "local-run/$name.parquet" "cluster-run/$name.parquet"; then
        echo "$name.parquet: byte-identical"
    else
        echo "$name.parquet: DIFFERS"; status=1
    fi
done
grep -q '"engine": "spark"' cluster-run/manifest.json || { echo "manifest.json: not a Spark run"; status=1; }
for name in accounts alerts evidence instances; do
    test -f "datasets/$name/_SUCCESS" || { echo "datasets/$name: incomplete"; status=1; }
done
grep -q "environment/bin/python" logs/job.out || { echo "the executors did not run the shipped Python"; status=1; }
ls staging 2>/dev/null | grep -q . && { echo "the staging folder was not emptied"; status=1; }
exit $status
