#!/usr/bin/env bash
# Generates the Python stubs of the mesh's own contracts (emission.*, and
# buf.validate when the contracts carry it) into examples/python/gen, with the
# protoc of grpcio-tools from the venv given as $1. Third-party messages are
# not generated: google.rpc comes from googleapis-common-protos, health and
# reflection from grpcio-health-checking and grpcio-reflection.
set -euo pipefail

python="$1"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${repo_root}/examples/python/gen"
cd "${repo_root}"

# Imports resolve against both module roots (third_party/proto once the
# vendored protos live there) and grpcio-tools' own google/protobuf copies.
includes=(-I proto)
[[ -d third_party/proto ]] && includes+=(-I third_party/proto)
wkt="$("${python}" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"
includes+=(-I "${wkt}")

# Paths relative to their include root, as protoc wants them.
files=()
while IFS= read -r f; do files+=("${f}"); done < <(cd proto && find emission -name '*.proto' | sort)
[[ -f third_party/proto/buf/validate/validate.proto ]] && files+=(buf/validate/validate.proto)

rm -rf "${out}"
mkdir -p "${out}"
"${python}" -m grpc_tools.protoc "${includes[@]}" \
  --python_out="${out}" --pyi_out="${out}" --grpc_python_out="${out}" "${files[@]}"
