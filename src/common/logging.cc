#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <string>

namespace cfs {

void InitLogging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("cfs");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ %t] %v");
  spdlog::set_default_logger(logger);
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") lvl = spdlog::level::info;
  spdlog::set_level(lvl);
}

}  // namespace cfs
