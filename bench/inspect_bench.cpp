// Micro benchmarks of the inspection path. Images come from the fixture cache
// (bench/run.sh passes DORMANT_BENCH_IMAGE); without it only the parser runs.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "dormant/inspect/dpkg_status.hpp"
#include "dormant/inspect/inspection.hpp"

namespace {

std::string read_host_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void BM_ParseDpkgStatus(benchmark::State& state) {
  const char* path = std::getenv("DORMANT_BENCH_STATUS");
  std::string text = read_host_file(path ? path : "/var/lib/dpkg/status");
  for (auto _ : state) {
    auto parsed = dormant::inspect::parse_dpkg_status(text);
    benchmark::DoNotOptimize(parsed.packages.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_ParseDpkgStatus)->Unit(benchmark::kMillisecond);

void BM_InspectImage(benchmark::State& state) {
  const char* image = std::getenv("DORMANT_BENCH_IMAGE");
  if (!image) {
    state.SkipWithError("DORMANT_BENCH_IMAGE not set");
    return;
  }
  for (auto _ : state) {
    auto result = dormant::inspect::inspect_image(image);
    benchmark::DoNotOptimize(result.packages.data());
  }
}
BENCHMARK(BM_InspectImage)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
