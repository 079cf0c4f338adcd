// The process's memory, for heartbeats and benchmarks (Linux /proc).
#pragma once

#include <cstdint>

namespace cfs {

// Resident set size in bytes; 0 if it cannot be read.
uint64_t ResidentBytes();
// Bytes malloc has handed out and not had back (glibc mallinfo2).
uint64_t HeapInUseBytes();
// Physical memory of the machine in bytes; 0 if unknown.
uint64_t PhysicalMemoryBytes();

}  // namespace cfs
