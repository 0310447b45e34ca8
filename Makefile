# dormant — entry points. `make demo` and `make test` work on a fresh Debian 12
# machine: both install what is missing first (scripts/install-deps.sh).
JOBS ?= $(shell nproc)
BUILD ?= build
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

# The compiler cache (cmake/build_speed.cmake): one per machine under
# /var/cache when it is writable, shared by every clone; paths under the
# clone's root are rewritten so that two clones hit the same entries.
export CCACHE_DIR ?= $(shell [ -w /var/cache ] && echo /var/cache/dormant-ccache || echo $${XDG_CACHE_HOME:-$$HOME/.cache}/ccache)
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1
export CCACHE_SLOPPINESS ?= pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_MAXSIZE ?= 10G

# What each tree of `make test` builds: only what its tiers run
# (tests/README.md, "Where each test runs").
TEST_RELEASE_FLAGS = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDORMANT_BENCH=OFF -DDORMANT_UNIT_TESTS=OFF -DDORMANT_SLOW_TESTS=ON
ASAN_FLAGS = -DCMAKE_BUILD_TYPE=Debug -DDORMANT_SANITIZE=ON -DDORMANT_BENCH=OFF -DDORMANT_UNIT_TESTS=ON -DDORMANT_SLOW_TESTS=OFF
FUZZ_FLAGS = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDORMANT_FUZZ=ON -DDORMANT_BENCH=OFF

.PHONY: print-ccache-dir all deps build build-tests build-asan build-fuzz test demo bench fixtures format tidy clean

all: build

deps:
	bash scripts/install-deps.sh

# Everything, benchmarks and unit tests included (a developer's tree).
build: deps
	bash scripts/configure.sh $(BUILD) $(CMAKE_FLAGS) -DDORMANT_BENCH=ON -DDORMANT_UNIT_TESTS=ON -DDORMANT_SLOW_TESTS=ON
	cmake --build $(BUILD) -j $(JOBS)

# The release tree as `make test` uses it: the CLI, the integration and slow
# test programs (for what ASan cannot run), no benchmarks, no unit tests.
build-tests: deps
	bash scripts/configure.sh $(BUILD) $(TEST_RELEASE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	bash scripts/configure.sh build-asan $(ASAN_FLAGS)
	cmake --build build-asan -j $(JOBS)

# Only the fuzz targets and the libraries they link.
build-fuzz: deps
	CC=clang CXX=clang++ bash scripts/configure.sh build-fuzz $(FUZZ_FLAGS)
	cmake --build build-fuzz -j $(JOBS) --target dormant_fuzzers

fixtures: deps
	bash tests/fixtures/make-images.sh

# All tiers (tests/README.md): unit and integration once under ASan+UBSan,
# what ASan cannot run once in release, bounded fuzzing, slow end-to-end.
test: build-tests build-asan build-fuzz fixtures
	BUILD=$(BUILD) bash tests/run-tests.sh

demo: build
	BUILD=$(BUILD) bash scripts/demo.sh

bench: build fixtures
	bash bench/run.sh

format:
	find include src tests bench -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

tidy: build
	run-clang-tidy -p $(BUILD) -quiet 'src/.*'

clean:
	rm -rf build build-asan build-fuzz

# For .ci/run's closing table.
print-ccache-dir:
	@echo $(CCACHE_DIR)
