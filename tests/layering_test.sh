#!/usr/bin/env bash
# Fails when a layer includes a header of a layer above it (docs/architecture.md).
# Each layer may include itself and the layers listed after it.
set -u
root=${1:-.}
declare -A allowed=(
  [schemas]="schemas"
  [runtime]="runtime schemas"
  [kernels]="kernels runtime schemas"
  [actors]="actors kernels runtime schemas"
  [cluster]="cluster actors kernels runtime schemas"
  [estimator]="estimator actors kernels runtime schemas"
  [serving]="serving actors kernels runtime schemas"
  [pipeline]="pipeline estimator actors kernels runtime schemas"
)
layers="schemas runtime kernels actors cluster estimator pipeline serving bin"
status=0
checked=0
for layer in "${!allowed[@]}"; do
  [ -d "$root/$layer" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include[[:space:]]*"([^/"]+)\/.*/\1/' <<<"${line#*:}")
    case " $layers " in *" $inc "*) ;; *) continue ;; esac
    checked=$((checked + 1))
    case " ${allowed[$layer]} " in
      *" $inc "*) ;;
      *) echo "layering: $file includes a header of '$inc', which is above '$layer'"; status=1 ;;
    esac
  done < <(grep -rnE '#include[[:space:]]*"[^"]+/' "$root/$layer" --include='*.hpp' --include='*.cpp' --include='*.cu' | sed -E 's/^([^:]+):[0-9]+:/\1:/')
done
[ $checked -gt 0 ] || { echo "layering: no includes found under $root (wrong root?)"; exit 1; }
[ $status -eq 0 ] && echo "layering: $checked project includes checked, none points upward"
exit $status
