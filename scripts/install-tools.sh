#!/usr/bin/env bash
# Installs the command-line tools the tests drive (grpcurl) into
# <repo>/.cache/tools/bin. A stamp per version makes reruns free and a
# version bump reinstall.
set -euo pipefail

GRPCURL_VERSION="v1.9.4"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${repo_root}/.cache/tools/bin"
stamp="${bin_dir}/.grpcurl-${GRPCURL_VERSION}"

if [[ -x "${bin_dir}/grpcurl" && -f "${stamp}" ]]; then
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-tools: Go (https://go.dev/dl/) is needed to build grpcurl ${GRPCURL_VERSION} for the tests; install Go and run 'npm install' again" >&2
  exit 1
fi

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
