#!/usr/bin/env bash
# Whole-pipeline agreement of an exported model with effiseg: exports CHECKPOINT, segments every
# image of a split with `effiseg predict` and with examples/SegmentPolypsOnnx.java (ONNX Runtime
# alone: Lanczos-4, metadata normalisation, bilinear back, threshold), then scores the ORT masks
# against effiseg's with `effiseg evaluate` (effiseg's masks standing in as ground truth) and
# prints the share of pixels on which the two masks agree, per image (worst) and overall.
#   scripts/onnx-agreement.sh CHECKPOINT [DATA_ROOT (../shared/data/kvasir-seg)] [SPLIT (test)] [OUT_DIR (target/onnx-agreement)]
# Needs target/effiseg.jar (mvn -DskipTests package).
set -euo pipefail
cd "$(dirname "$0")/.."
checkpoint=$(realpath "$1")
data=$(realpath "${2:-../shared/data/kvasir-seg}")
split=${3:-test}
out=${4:-target/onnx-agreement}
rm -rf "$out"
mkdir -p "$out/reference/$split"
mvn -B -q -o dependency:build-classpath -Dmdep.outputFile="$out/test.cp" -Dmdep.includeScope=test
ort=$(tr ':' '\n' < "$out/test.cp" | grep '/onnxruntime-[0-9.]*\.jar$')
effiseg=(java --enable-native-access=ALL-UNNAMED -jar target/effiseg.jar)

"${effiseg[@]}" export --checkpoint "$checkpoint" --out "$out/model.onnx"
"${effiseg[@]}" predict --checkpoint "$checkpoint" --out "$out/reference/$split/masks" --device cpu "$data/$split/images"
java -cp "$ort" examples/SegmentPolypsOnnx.java "$out/model.onnx" "$out/ort-raw" "$data/$split/images"/* > "$out/ort.log"
mkdir -p "$out/ort"
for f in "$out/ort-raw"/*-mask.png; do
  name=$(basename "$f" -mask.png)
  mv "$f" "$out/ort/$name.png"
done
ln -s "$data/$split/images" "$out/reference/$split/images"
"${effiseg[@]}" evaluate --predictions "$out/ort" --data "$out/reference" --split "$split" --per-image "$out/agreement.csv" > /dev/null
# per-image columns: id,width,height,tp,fp,fn,tn,...
awk -F, 'NR > 1 { a = ($4 + $7) / ($4 + $5 + $6 + $7); agree += $4 + $7; all += $4 + $5 + $6 + $7; n++;
                  if (n == 1 || a < worst) { worst = a; at = $1 } }
         END { printf "pixel agreement of ORT (examples/SegmentPolypsOnnx.java) with effiseg predict over %d images: %.4f %%, worst image %s: %.4f %%\n", n, 100 * agree / all, at, 100 * worst }' "$out/agreement.csv"
