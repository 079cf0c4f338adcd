# The README's commands. Every target installs missing Debian packages first.
#   make run        build and run the main job
#   make test       build and run every test (what CI runs first)
#   make test-asan  the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       the libFuzzer targets, FUZZ_SECONDS (default 60) each
#   make bench      the storage, RPC, Raft and metanode benchmarks (figures go to docs/benchmarks.md by hand)
#   make soak       the Raft simulation over SOAK_SEEDS seeds (default 20000); not in make test
.PHONY: all deps build test run test-asan fuzz bench soak clean

FUZZ_SECONDS ?= 60
SOAK_SEEDS ?= 20000
SOAK_FIRST_SEED ?= 1
SOAK_BIN ?= build/release/src/testing/cfs_raft_sim_test

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
	@build/release/bench/cfs_rpc_bench
	@build/release/bench/cfs_raft_bench
	@build/release/bench/cfs_metanode_bench

# Two processes (one per core), each half of the seeds; each failing seed is
# listed, and build/soak-*.log hold its trace tail. Replay one with
# CFS_SIM_FIRST_SEED=<seed> CFS_SIM_SEEDS=1 CFS_SIM_TRACE=100000 <test binary>.
soak: build
	@half=$$(( $(SOAK_SEEDS) / 2 )); \
	run() { CFS_SIM_FIRST_SEED=$$1 CFS_SIM_SEEDS=$$2 $(SOAK_BIN) \
	  --gtest_filter='RaftSimTest.RandomScenarios*' >$$3 2>&1; }; \
	run $(SOAK_FIRST_SEED) $$half build/soak-1.log & p1=$$!; \
	run $$(( $(SOAK_FIRST_SEED) + half )) $$(( $(SOAK_SEEDS) - half )) build/soak-2.log & p2=$$!; \
	wait $$p1; r1=$$?; wait $$p2; r2=$$?; \
	grep -h 'raft sim: seeds' build/soak-1.log build/soak-2.log; \
	grep -h '^seed [0-9]*:' build/soak-1.log build/soak-2.log | cut -c1-300 | head -50; \
	grep -h 'raft sim: seeds' build/soak-1.log build/soak-2.log | \
	  sed 's/.*ran \([0-9]*\), passed \([0-9]*\).*/\1 \2/' | \
	  awk '{ran+=$$1; ok+=$$2} END {printf "soak: %d seeds ran, %d passed, %d failed\n", ran, ok, ran-ok}'; \
	test $$r1 -eq 0 -a $$r2 -eq 0

clean:
	rm -rf build
