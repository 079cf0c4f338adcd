// Frame I/O over a TCP socket, shared by the server's connections and the
// client's channels. Coroutines stay inside rpc/.
#pragma once

#include <chrono>
#include <deque>
#include <string>

#include <boost/asio.hpp>

#include "common/status.h"
#include "rpc/frame.h"

namespace cfs::rpc {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Strand = asio::strand<asio::any_io_executor>;

struct InFrame {
  FrameHeader header;
  std::string message;
  std::string payload;
};

// Reads one whole frame. A malformed header is InvalidArgument; a closed or
// broken connection is Unavailable.
asio::awaitable<Result<InFrame>> ReadFrame(tcp::socket& socket, const FrameLimits& limits);

// Queues frames and writes them in batches (one gather write for every frame
// queued meanwhile). Lives on one strand: every method must be called there.
class FrameWriter {
 public:
  FrameWriter(tcp::socket& socket, const asio::any_io_executor& ex);
  void Enqueue(const FrameHeader& h, std::string message, std::string payload);
  // Writes until Close or a write error, which it returns.
  asio::awaitable<Status> Run();
  void Close();
  size_t queued() const { return queue_.size(); }

 private:
  struct Out {
    char header[kFrameHeaderSize];
    std::string message;
    std::string payload;
  };
  tcp::socket& socket_;
  asio::steady_timer signal_;
  std::deque<Out> queue_;
  bool closed_ = false;
};

Status FromErrorCode(const boost::system::error_code& ec, std::string_view context);

// "host:port" -> endpoint; hosts are numeric IPv4/IPv6 or "localhost".
Result<tcp::endpoint> ParseEndpoint(const std::string& address);

}  // namespace cfs::rpc
