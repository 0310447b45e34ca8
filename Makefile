# dormant — entry points. `make demo` and `make test` work on a fresh Debian 12
# machine: both install what is missing first (scripts/install-deps.sh).
JOBS ?= $(shell nproc)
BUILD ?= build
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build build-asan build-fuzz test test-unit test-integration demo bench fixtures format tidy clean

all: build

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDORMANT_SANITIZE=ON -DDORMANT_BENCH=OFF
	cmake --build build-asan -j $(JOBS)

build-fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDORMANT_FUZZ=ON -DDORMANT_BENCH=OFF
	cmake --build build-fuzz -j $(JOBS)

fixtures: deps
	bash tests/fixtures/make-images.sh

# All tiers: unit, integration (release and ASan+UBSan), bounded fuzzing,
# slow end-to-end. See tests/README.md.
test: build build-asan build-fuzz fixtures
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
