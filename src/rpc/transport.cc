#include "rpc/transport.h"

#include <charconv>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace cfs::rpc {
namespace {

// The completion condition of every asio::async_read and async_write here:
// all that is left, asked of the socket in one call. asio's default
// (transfer_all) asks at most 64 KiB a call: a 4 MiB payload took 64
// sendmsg calls on one side and as many reads on the other.
size_t AllThatIsLeft(const boost::system::error_code& ec, size_t) {
  return ec ? 0 : std::numeric_limits<size_t>::max();
}

}  // namespace

Status FromErrorCode(const boost::system::error_code& ec, std::string_view context) {
  if (ec == asio::error::operation_aborted) return Status(Code::kCancelled, fmt::format("{}: cancelled", context));
  if (ec == asio::error::timed_out) return Status::Timeout(fmt::format("{}: timed out", context));
  return Status::Unavailable(fmt::format("{}: {}", context, ec.message()));
}

asio::awaitable<Status> FrameReader::Fill(tcp::socket& socket, size_t n) {
  if (end_ - start_ >= n) co_return Status::OK();
  if (start_ + n > buf_.size()) {  // move what is left to the front
    std::memmove(buf_.data(), buf_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  while (end_ - start_ < n) {
    auto [ec, got] = co_await socket.async_read_some(asio::buffer(buf_.data() + end_, buf_.size() - end_),
                                                      asio::as_tuple(asio::use_awaitable));
    if (ec) co_return FromErrorCode(ec, "read frame");
    end_ += got;
  }
  co_return Status::OK();
}

asio::awaitable<Result<InFrame>> FrameReader::Next(tcp::socket& socket) {
  if (Status s = co_await Fill(socket, kFrameHeaderSize); !s.ok()) co_return s;
  auto h = DecodeFrameHeader(std::string_view(buf_.data() + start_, kFrameHeaderSize), limits_);
  if (!h.ok()) co_return h.status();
  start_ += kFrameHeaderSize;
  InFrame f;
  f.header = *h;
  const size_t body = size_t{h->message_len} + h->payload_len;
  if (body <= buf_.size()) {
    if (Status s = co_await Fill(socket, body); !s.ok()) co_return s;
    f.message.assign(buf_.data() + start_, h->message_len);
    f.payload.assign(buf_.data() + start_ + h->message_len, h->payload_len);
    start_ += body;
    co_return f;
  }
  // Too big to buffer: take what is buffered, read the rest in place.
  f.message.resize(h->message_len);
  f.payload.resize(h->payload_len);
  size_t have = std::min(end_ - start_, body);
  size_t to_msg = std::min<size_t>(have, h->message_len);
  std::memcpy(f.message.data(), buf_.data() + start_, to_msg);
  std::memcpy(f.payload.data(), buf_.data() + start_ + to_msg, have - to_msg);
  start_ += have;
  std::array<asio::mutable_buffer, 2> rest = {asio::buffer(f.message.data() + to_msg, h->message_len - to_msg),
                                              asio::buffer(f.payload.data() + (have - to_msg), h->payload_len - (have - to_msg))};
  auto [ec, n] = co_await asio::async_read(socket, rest, AllThatIsLeft, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return FromErrorCode(ec, "read frame body");
  co_return f;
}

FrameWriter::FrameWriter(tcp::socket& socket, const asio::any_io_executor& ex)
    : socket_(socket), signal_(ex, std::chrono::steady_clock::time_point::max()) {}

void FrameWriter::Enqueue(const FrameHeader& h, std::string message, OutPayload payload) {
  if (closed_) return;
  FrameHeader hh = h;
  hh.message_len = static_cast<uint32_t>(message.size());
  hh.payload_len = static_cast<uint32_t>(payload.view().size());
  queue_.emplace_back();
  Out& o = queue_.back();
  EncodeFrameHeader(hh, o.header);
  o.message = std::move(message);
  o.payload = std::move(payload);
  signal_.cancel_one();
}

void FrameWriter::Close() {
  closed_ = true;
  signal_.cancel();
}

asio::awaitable<Status> FrameWriter::Run() {
  constexpr size_t kMaxBatch = 64;
  std::vector<asio::const_buffer> bufs;
  std::deque<Out> batch;
  while (!closed_) {
    if (queue_.empty()) {
      co_await signal_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;  // woken by Enqueue or Close
    }
    bufs.clear();
    batch.clear();
    while (!queue_.empty() && batch.size() < kMaxBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    for (const Out& o : batch) {
      bufs.emplace_back(o.header, kFrameHeaderSize);
      if (!o.message.empty()) bufs.emplace_back(o.message.data(), o.message.size());
      if (std::string_view p = o.payload.view(); !p.empty()) bufs.emplace_back(p.data(), p.size());
    }
    auto [ec, n] = co_await asio::async_write(socket_, bufs, AllThatIsLeft, asio::as_tuple(asio::use_awaitable));
    batch.clear();  // let go of the payloads now, not at the next write
    if (ec) {
      closed_ = true;
      co_return FromErrorCode(ec, "write frames");
    }
  }
  co_return Status::OK();
}

Result<tcp::endpoint> ParseEndpoint(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return Status::InvalidArgument(fmt::format("address {} is not HOST:PORT", address));
  }
  std::string host = address.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  uint16_t port = 0;
  const char* pb = address.data() + colon + 1;
  const char* pe = address.data() + address.size();
  auto [end, ec] = std::from_chars(pb, pe, port);
  if (ec != std::errc() || end != pe) return Status::InvalidArgument(fmt::format("address {}: bad port", address));
  boost::system::error_code aec;
  auto ip = asio::ip::make_address(host, aec);
  if (aec) return Status::InvalidArgument(fmt::format("address {}: {} is not an IP address", address, host));
  return tcp::endpoint(ip, port);
}

Result<Listener> Listen(const asio::any_io_executor& ex, const std::string& address, std::string_view what) {
  CFS_ASSIGN_OR_RETURN(tcp::endpoint ep, ParseEndpoint(address));
  auto acc = std::make_shared<tcp::acceptor>(ex);
  boost::system::error_code ec;
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  tcp::endpoint bound;
  if (!ec) bound = acc->local_endpoint(ec);
  if (ec) return Status::Unavailable(fmt::format("{} listen on {}: {}", what, address, ec.message()));
  std::string host = bound.address().to_string();
  if (bound.address().is_v6()) host = "[" + host + "]";
  return Listener{std::move(acc), fmt::format("{}:{}", host, bound.port())};
}

}  // namespace cfs::rpc
