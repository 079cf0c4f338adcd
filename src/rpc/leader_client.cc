#include "rpc/leader_client.h"

#include <algorithm>

#include <fmt/format.h>

namespace cfs::rpc {

bool IsRetryableRouting(const Status& s) {
  return s.Is(Code::kNotLeader) || s.Is(Code::kUnavailable) || s.Is(Code::kTimeout);
}

LeaderClient::LeaderClient(ChannelPool& pool, std::vector<std::string> addresses, LeaderClientOptions options)
    : pool_(pool), options_(options), addresses_(std::move(addresses)) {}

void LeaderClient::SetAddresses(std::vector<std::string> addresses) {
  std::lock_guard l(mu_);
  if (std::find(addresses.begin(), addresses.end(), leader_) == addresses.end()) leader_.clear();
  addresses_ = std::move(addresses);
}

std::vector<std::string> LeaderClient::addresses() const {
  std::lock_guard l(mu_);
  return addresses_;
}

std::string LeaderClient::leader() const {
  std::lock_guard l(mu_);
  return leader_;
}

std::vector<std::string> LeaderClient::Order() const {
  std::lock_guard l(mu_);
  std::vector<std::string> order;
  if (!leader_.empty()) order.push_back(leader_);
  for (const auto& a : addresses_) {
    if (a != leader_) order.push_back(a);
  }
  return order;
}

void LeaderClient::Answered(const std::string& address) {
  std::lock_guard l(mu_);
  leader_ = address;
}

asio::awaitable<Result<std::string>> LeaderClient::Call(proto::Method method, const google::protobuf::Message& req,
                                                        google::protobuf::Message* resp, std::string payload,
                                                        std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  const std::string message = req.SerializeAsString();
  std::chrono::milliseconds backoff{10};
  Status last = Status::InvalidArgument("no address to call");
  for (;;) {
    std::vector<std::string> order = Order();
    if (order.empty()) co_return last;
    bool served_somewhere = false;  // some address answered other than "not served here"
    for (size_t i = 0; i < order.size(); ++i) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) co_return last;
      const std::string address = order[i];
      auto r = co_await pool_.Get(address)->Call(method, message, payload, std::min(left, options_.attempt_timeout));
      if (r.ok()) {
        if (!resp->ParseFromString(r->message)) {
          co_return Status::Corruption(
              fmt::format("{}: response does not parse as {}", address, resp->GetDescriptor()->name()));
        }
        Answered(address);
        co_return std::move(r->payload);
      }
      last = r.status();
      if (!IsRetryableRouting(last)) co_return last;
      const std::string& hint = last.leader_hint();
      if (!last.Is(Code::kNotLeader) || !hint.empty()) served_somewhere = true;
      if (last.Is(Code::kNotLeader) && !hint.empty()) {
        auto it = std::find(order.begin() + static_cast<std::ptrdiff_t>(i) + 1, order.end(), hint);
        if (it != order.end()) {
          std::rotate(order.begin() + static_cast<std::ptrdiff_t>(i) + 1, it, it + 1);
        } else if (std::find(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(i) + 1, hint) ==
                   order.begin() + static_cast<std::ptrdiff_t>(i) + 1) {
          order.insert(order.begin() + static_cast<std::ptrdiff_t>(i) + 1, hint);
        }
      }
    }
    if (!served_somewhere) co_return last;  // nobody has it: the caller's view is stale
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) co_return last;
    asio::steady_timer t(co_await asio::this_coro::executor, std::min(left, backoff));
    co_await t.async_wait(asio::use_awaitable);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
  }
}

}  // namespace cfs::rpc
