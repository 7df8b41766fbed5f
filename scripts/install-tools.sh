#!/usr/bin/env bash
# Installs the command-line tools the tests drive into <repo>/.cache/tools/bin:
# grpcurl, and ferretdb (a real MongoDB wire-protocol server for the store
# tests, built from scripts/ferretdb). Stamps make reruns free: a version bump
# of grpcurl, or a change to scripts/ferretdb, rebuilds that tool.
set -euo pipefail

GRPCURL_VERSION="v1.9.4"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${repo_root}/.cache/tools/bin"

# The Python half of the clients in other languages (examples/python: venv and
# stubs; scripts/install-examples.sh) runs meanwhile: pip mostly waits on the network.
bash "${repo_root}/scripts/install-examples.sh" python &
python_example_pid=$!
wait_python_example() {
  if ! wait "${python_example_pid}"; then
    echo "install-tools: setting up examples/python failed (see above)" >&2
    exit 1
  fi
}

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "install-tools: Go (https://go.dev/dl/) is needed to build $1 for the tests; install Go and run 'npm install' again" >&2
    exit 1
  fi
}

# grpcurl
stamp="${bin_dir}/.grpcurl-${GRPCURL_VERSION}"

if [[ ! -x "${bin_dir}/grpcurl" || ! -f "${stamp}" ]]; then
  need_go "grpcurl ${GRPCURL_VERSION}"

  mkdir -p "${bin_dir}"
  log="$(mktemp)"
  trap 'rm -f "${log}"' EXIT
  # Quiet on success: go's download chatter is shown only when it fails.
  if ! GOBIN="${bin_dir}" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}" >"${log}" 2>&1; then
    cat "${log}" >&2
    echo "install-tools: 'go install github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}' failed" >&2
    exit 1
  fi
  rm -f "${bin_dir}"/.grpcurl-*
  touch "${stamp}"
fi

# ferretdb: our own small program embedding FerretDB 1.x with its SQLite
# backend (scripts/ferretdb). The stamp holds a hash of its sources, so an
# edit there (or a FerretDB version bump in go.mod) rebuilds it.
ferretdb_src="${repo_root}/scripts/ferretdb"
ferretdb_stamp="${bin_dir}/.ferretdb-stamp"

sources_hash() {
  local files=("${ferretdb_src}/go.mod" "${ferretdb_src}/go.sum" "${ferretdb_src}"/*.go)
  if command -v sha256sum >/dev/null 2>&1; then
    cat "${files[@]}" | sha256sum | cut -d' ' -f1
  else
    cat "${files[@]}" | shasum -a 256 | cut -d' ' -f1
  fi
}

ferretdb_hash="$(sources_hash)"
if [[ ! -x "${bin_dir}/ferretdb" || ! -f "${ferretdb_stamp}" || "$(cat "${ferretdb_stamp}")" != "${ferretdb_hash}" ]]; then
  need_go "FerretDB (scripts/ferretdb)"

  mkdir -p "${bin_dir}"
  ferretdb_log="$(mktemp)"
  ferretdb_tmp="${bin_dir}/.ferretdb.tmp.$$"
  trap 'rm -f "${log:-}" "${ferretdb_log}" "${ferretdb_tmp}"' EXIT
  # Pure Go (modernc SQLite), so no C compiler; the PostgreSQL backend is left out.
  # -mod=readonly: go.mod and go.sum are committed and complete.
  if ! (
    cd "${ferretdb_src}" &&
      GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
        go build -trimpath -tags ferretdb_no_postgresql -o "${ferretdb_tmp}" .
  ) >"${ferretdb_log}" 2>&1; then
    cat "${ferretdb_log}" >&2
    echo "install-tools: building FerretDB from scripts/ferretdb ('go build' there) failed" >&2
    exit 1
  fi
  mv -f "${ferretdb_tmp}" "${bin_dir}/ferretdb"
  echo "${ferretdb_hash}" >"${ferretdb_stamp}"
fi

# The Go half of the clients in other languages (plugins, stubs, the example
# binary): after grpcurl, whose module versions and build cache it shares.
bash "${repo_root}/scripts/install-examples.sh" go
wait_python_example
