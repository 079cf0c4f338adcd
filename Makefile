# The README's commands. Every target installs missing Debian packages first.
#   make run        build and run the main job
#   make test       build and run every test (what CI runs first)
#   make test-asan  the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       the libFuzzer targets, FUZZ_SECONDS (default 60) each
#   make bench      the benchmarks (figures go to docs/benchmarks.md by hand)
.PHONY: all deps build test run test-asan fuzz bench clean

FUZZ_SECONDS ?= 60

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release

test: build
	@ctest --preset release

run: build
	@scripts/run.sh

test-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan
	@ctest --preset asan

fuzz: deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build
	@build/release/bench/cfs_datanode_bench

clean:
	rm -rf build
