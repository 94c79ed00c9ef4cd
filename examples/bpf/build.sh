#!/usr/bin/env bash
# Builds the object `ebpf-examples inspect` embeds: default.bpf.c ->
# default.bpfel.o (little-endian BPF) next to this script. Idempotent: always
# rebuilds from source.
#
# Needs clang and llvm (Debian: apt-get update && apt-get install -y clang llvm libbpf-dev).
# Compiled with -g (clang emits .BTF / .BTF.ext only with debug info, and BTF
# is what defines the SEC(".maps") maps), then the DWARF .debug_* sections are
# stripped with `llvm-strip -g` to keep the committed object small; .BTF and
# .BTF.ext stay. Paths in the debug info are made relative
# (-fdebug-compilation-dir=.) so the object does not depend on the checkout.
#
# Set EXTRA_CFLAGS=-DNO_LEGACY_MAPS (and OUT=...) for the variant without the
# legacy SEC("maps") section, which libbpf/bpftool can load.
set -euo pipefail

cd "$(dirname "$0")"

CLANG="${CLANG:-clang}"
STRIP="${STRIP:-llvm-strip}"
OUT="${OUT:-default.bpfel.o}"
install_hint="install it with: apt-get update && apt-get install -y clang llvm libbpf-dev"
for tool in "$CLANG" "$STRIP"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "error: '$tool' not found." >&2
		echo "$install_hint" >&2
		exit 1
	fi
done
if [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
	echo "error: /usr/include/bpf/bpf_helpers.h not found (libbpf headers)." >&2
	echo "$install_hint" >&2
	exit 1
fi

# asm/types.h lives in the multiarch include directory on Debian.
MULTIARCH_INC="/usr/include/$(uname -m)-linux-gnu"
if [ ! -d "$MULTIARCH_INC" ]; then
	echo "error: $MULTIARCH_INC not found (needed for asm/types.h)" >&2
	exit 1
fi

echo "using $("$CLANG" --version | head -n1)"
# shellcheck disable=SC2206 # EXTRA_CFLAGS is a list of words on purpose
extra=(${EXTRA_CFLAGS:-})
cmd=("$CLANG" -target bpfel -g -O2 -fdebug-compilation-dir=. -I"$MULTIARCH_INC"
	-Wall -Werror "${extra[@]}" -c default.bpf.c -o "$OUT")
echo "+ ${cmd[*]}"
"${cmd[@]}"
echo "+ $STRIP -g $OUT"
"$STRIP" -g "$OUT"
ls -l "$OUT"
