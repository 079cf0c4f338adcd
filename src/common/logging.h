// Logging through spdlog. Domain code logs with spdlog's level functions
// (spdlog::info, spdlog::warn, ...); processes call InitLogging once.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace cfs {

// Sets the process-wide level ("trace".."off"; unknown names mean "info") and
// a pattern with time, level and thread id, writing to stderr.
void InitLogging(std::string_view level);

}  // namespace cfs
