#!/usr/bin/env bash
# Sets up the clients in other languages (examples/python, examples/go) so
# the tests and the README's commands can run them:
#   .cache/venv                          Python venv with examples/python/requirements.txt
#   examples/python/gen                  Python stubs of proto/emission (grpcio-tools)
#   .cache/tools/bin/protoc-gen-go{,-grpc} built at the versions pinned in examples/go/go.mod
#   examples/go/gen                      Go stubs of proto/emission (buf, examples/go/buf.gen.yaml)
#   .cache/tools/bin/emission-example-go the Go example, built once
# The stubs are generated here, not committed (both folders are git-ignored):
# they follow the contracts and the pinned generators, so they cannot go stale.
# Each step keeps a stamp holding a hash of its inputs, so a rerun is free.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"
bin_dir="${repo_root}/.cache/tools/bin"
venv="${repo_root}/.cache/venv"
stamps="${repo_root}/.cache/stamps"
mkdir -p "${bin_dir}" "${stamps}"

hash_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    cat "$@" | sha256sum | cut -d' ' -f1
  else
    cat "$@" | shasum -a 256 | cut -d' ' -f1
  fi
}

# Runs a step unless its output exists and the hash of its inputs is the one
# it last succeeded with. Quiet on success: its output is shown only when it fails.
step() {
  local name="$1" output="$2" hash="$3"
  shift 3
  local stamp="${stamps}/${name}"
  if [[ -e "${output}" && -f "${stamp}" && "$(cat "${stamp}")" == "${hash}" ]]; then return 0; fi
  # A step that fails half-way must run again next time, whatever its inputs.
  rm -f "${stamp}"
  local log
  log="$(mktemp)"
  if ! "$@" >"${log}" 2>&1; then
    cat "${log}" >&2
    rm -f "${log}"
    echo "install-examples: step '${name}' failed" >&2
    exit 1
  fi
  rm -f "${log}"
  echo "${hash}" >"${stamp}"
}

# The contracts, in either layout (third_party/proto holds the vendored protos once they moved there).
protos=()
while IFS= read -r f; do protos+=("${f}"); done < <(find proto third_party/proto -name '*.proto' 2>/dev/null | sort)

part="${1:-all}"
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "install-examples: $2 is needed for the example clients; install it and run 'npm install' again" >&2
    exit 1
  fi
}
[[ "${part}" == go ]] || need python3 "Python 3 (with venv and pip), for examples/python,"
[[ "${part}" == python ]] || need go "Go (https://go.dev/dl/), for examples/go,"

# --- Python: mostly downloads ---------------------------------------------------
make_venv() {
  rm -rf "${venv}"
  python3 -m venv "${venv}"
  "${venv}/bin/pip" install --quiet --disable-pip-version-check -r examples/python/requirements.txt
}

python_part() {
  local python_version
  python_version="$(python3 -c 'import sys; print(sys.version)')"
  step python-venv "${venv}/bin/python" "$(echo "${python_version}" | cat - examples/python/requirements.txt | hash_of)" make_venv
  step python-stubs examples/python/gen/emission \
    "$(hash_of "${protos[@]}" scripts/generate-python.sh examples/python/requirements.txt "${stamps}/python-venv")" \
    bash scripts/generate-python.sh "${venv}/bin/python"
}

# --- Go: mostly compiling -------------------------------------------------------
export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"

go_plugins() {
  (cd examples/go && GOBIN="${bin_dir}" go install tool)
}

# Only the mesh's own contracts, and buf.validate when they carry it (google.rpc
# comes from genproto); in either layout of the third-party protos.
go_stubs() {
  local paths=(--path proto/emission)
  [[ -f third_party/proto/buf/validate/validate.proto ]] && paths+=(--path third_party/proto/buf/validate)
  PATH="${bin_dir}:${PATH}" node_modules/.bin/buf generate --template examples/go/buf.gen.yaml "${paths[@]}"
}

go_example() {
  (cd examples/go && go build -o "${bin_dir}/emission-example-go" .)
}

go_part() {
  step go-plugins "${bin_dir}/protoc-gen-go-grpc" "$(hash_of examples/go/go.mod examples/go/go.sum)" go_plugins
  step go-stubs examples/go/gen/emission "$(hash_of "${protos[@]}" buf.yaml examples/go/buf.gen.yaml "${stamps}/go-plugins")" go_stubs
  step go-example "${bin_dir}/emission-example-go" \
    "$(hash_of examples/go/*.go examples/go/go.mod examples/go/go.sum "${stamps}/go-stubs")" go_example
}

# `install-examples.sh python` or `... go` sets up one of them (install-tools.sh
# starts the Python part first, in the background, since pip mostly waits on the
# network); with no argument both run, overlapping the same way.
case "${part}" in
  python) python_part ;;
  go) go_part ;;
  all)
    python_part &
    python_pid=$!
    trap 'kill "${python_pid}" 2>/dev/null || true' EXIT
    go_part
    wait "${python_pid}"
    trap - EXIT
    ;;
  *) echo "usage: install-examples.sh [python|go]" >&2; exit 2 ;;
esac
