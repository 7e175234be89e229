#!/bin/sh
# The installable library, as an outside program uses it.
#   run.sh package BUILD_DIR SOURCE_DIR     cmake --install BUILD_DIR into a temporary prefix,
#       then build the consumer with find_package(jobstore) and with pkg-config, run both, and
#       check the installed CLI, man page and completion
#   run.sh subdirectory BUILD_DIR SOURCE_DIR     build the consumer with add_subdirectory of
#       the sources, with GTest and Google Benchmark made unfindable
set -eu
mode=$1 build=$2 src=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/jobstore-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
expect="consumer: pushed 2, ran 1, 0 left"
check_run() {  # BINARY LABEL
  out=$("$1" "memory:") || { echo "run.sh: the $2 consumer failed: $out" >&2; exit 1; }
  [ "$out" = "$expect" ] || { echo "run.sh: the $2 consumer printed '$out', not '$expect'" >&2; exit 1; }
  echo "$2: $out"
}
case $mode in
  package)
    cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log"
    prefix=$tmp/prefix
    for f in include/jobstore/store.h lib/cmake/jobstore/jobstoreConfig.cmake \
             lib/pkgconfig/jobstore.pc bin/jobstore share/man/man1/jobstore.1 \
             share/bash-completion/completions/jobstore; do
      [ -e "$prefix/$f" ] || { echo "run.sh: $f was not installed" >&2; cat "$tmp/install.log" >&2; exit 1; }
    done
    ls "$prefix"/lib/libjobstore.so* >/dev/null
    "$prefix/bin/jobstore" --version | grep -q '^jobstore ' || { echo "run.sh: installed jobstore --version failed" >&2; exit 1; }
    # No header of the installed package includes one that is not installed.
    for h in "$prefix"/include/jobstore/*.h; do
      echo "#include \"jobstore/$(basename "$h")\"" | g++ -std=c++20 -fsyntax-only -I"$prefix/include" -x c++ - \
        || { echo "run.sh: $(basename "$h") does not compile on its own from the install" >&2; exit 1; }
    done
    cmake -S "$src/tests/install/consumer" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cfg.log" \
      || { cat "$tmp/cfg.log" >&2; exit 1; }
    cmake --build "$tmp/cmake" >"$tmp/build.log" || { cat "$tmp/build.log" >&2; exit 1; }
    check_run "$tmp/cmake/consumer" "find_package"
    PKG_CONFIG_PATH=$prefix/lib/pkgconfig
    export PKG_CONFIG_PATH
    # shellcheck disable=SC2046
    g++ "$src/tests/install/consumer/main.cc" -o "$tmp/pc-consumer" $(pkg-config --cflags --libs jobstore) \
      -Wl,-rpath,"$prefix/lib"
    check_run "$tmp/pc-consumer" "pkg-config"
    ;;
  subdirectory)
    cmake -S "$src/tests/install/consumer" -B "$tmp/sub" -DJOBSTORE_SOURCE="$src" \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O0 \
      -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON >"$tmp/cfg.log" \
      || { cat "$tmp/cfg.log" >&2; exit 1; }
    cmake --build "$tmp/sub" --target consumer -j"$(nproc)" >"$tmp/build.log" || { tail -50 "$tmp/build.log" >&2; exit 1; }
    check_run "$tmp/sub/consumer" "add_subdirectory"
    ;;
  *) echo "run.sh: mode must be package or subdirectory" >&2; exit 2 ;;
esac
