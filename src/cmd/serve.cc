#include "cmd/serve.h"

#include <csignal>
#include <future>
#include <sstream>

#include <fmt/format.h>

#include "common/logging.h"

namespace cfs::cmd {

void WaitForShutdownSignal(rpc::Runtime& runtime) {
  boost::asio::signal_set signals(runtime.context(), SIGINT, SIGTERM);
  std::promise<int> got;
  signals.async_wait([&](const boost::system::error_code& ec, int sig) { got.set_value(ec ? 0 : sig); });
  int sig = got.get_future().get();
  spdlog::info("received signal {}: shutting down", sig);
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string part; std::getline(in, part, ',');) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

std::string DefaultHttpAddress(const std::string& rpc_address) {
  size_t colon = rpc_address.rfind(':');
  if (colon == std::string::npos) return "";
  int port = std::atoi(rpc_address.c_str() + colon + 1);
  if (port <= 0 || port + 10000 > 65535) return "";
  return fmt::format("{}:{}", rpc_address.substr(0, colon), port + 10000);
}

Result<std::unique_ptr<rpc::HttpServer>> StartHttp(rpc::Runtime& runtime, const std::string& http_address,
                                                   const std::string& rpc_address,
                                                   std::function<std::string()> status_json) {
  if (http_address == "off") return std::unique_ptr<rpc::HttpServer>();
  bool given = !http_address.empty();
  std::string address = given ? http_address : DefaultHttpAddress(rpc_address);
  if (address.empty()) return std::unique_ptr<rpc::HttpServer>();
  auto http = std::make_unique<rpc::HttpServer>(runtime.executor());
  rpc::AddDefaultRoutes(*http, std::move(status_json));
  auto bound = http->Listen(address);
  if (!bound.ok()) {
    if (given) return bound.status().WithContext("--http");
    spdlog::warn("no /metrics and /status: {}", bound.status().ToString());
    return std::unique_ptr<rpc::HttpServer>();
  }
  spdlog::info("http /metrics and /status on {}", *bound);
  return http;
}

}  // namespace cfs::cmd
