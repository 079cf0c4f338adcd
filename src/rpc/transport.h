// Frame I/O over a TCP socket, shared by the server's connections and the
// client's channels. Coroutines stay inside rpc/.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

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

// The payload of a frame to send: bytes it owns (from `offset` on: a
// datanode sends a needle's data out of the record it read, with no move
// of 4 MiB to cut the header off), or bytes shared with other frames (a
// datanode forwards one needle to each replica without a copy per replica).
// Shared bytes must not change while any frame holds them.
class OutPayload {
 public:
  OutPayload() = default;
  OutPayload(std::string bytes) : owned_(std::move(bytes)) {}  // NOLINT: implicit by design
  OutPayload(const char* bytes) : owned_(bytes) {}              // NOLINT
  OutPayload(std::shared_ptr<const std::string> shared) : shared_(std::move(shared)) {}  // NOLINT
  // offset <= bytes.size().
  OutPayload(std::string bytes, size_t offset) : owned_(std::move(bytes)), offset_(offset) {}
  std::string_view view() const {
    return shared_ ? std::string_view(*shared_) : std::string_view(owned_).substr(offset_);
  }

 private:
  std::string owned_;
  size_t offset_ = 0;
  std::shared_ptr<const std::string> shared_;
};

// Reads frames from a socket through a buffer, so that one recv brings in
// every frame the peer pipelined: the syscalls per request, not the bytes,
// are what a small RPC costs. Large payloads beyond the buffer are read
// straight into the frame. One reader per socket; not thread-safe.
class FrameReader {
 public:
  explicit FrameReader(const FrameLimits& limits) : limits_(limits), buf_(kBufferBytes, '\0') {}
  // The next whole frame. A malformed header is InvalidArgument; a closed or
  // broken connection is Unavailable.
  asio::awaitable<Result<InFrame>> Next(tcp::socket& socket);

 private:
  static constexpr size_t kBufferBytes = 256 << 10;
  // Makes at least n (<= kBufferBytes) bytes available at start_.
  asio::awaitable<Status> Fill(tcp::socket& socket, size_t n);

  const FrameLimits limits_;
  std::string buf_;
  size_t start_ = 0, end_ = 0;  // buffered bytes are buf_[start_, end_)
};

// Queues frames and writes them in batches (one gather write for every frame
// queued meanwhile). Lives on one strand: every method must be called there.
class FrameWriter {
 public:
  FrameWriter(tcp::socket& socket, const asio::any_io_executor& ex);
  void Enqueue(const FrameHeader& h, std::string message, OutPayload payload);
  // Writes until Close or a write error, which it returns.
  asio::awaitable<Status> Run();
  void Close();
  size_t queued() const { return queue_.size(); }

 private:
  struct Out {
    char header[kFrameHeaderSize];
    std::string message;
    OutPayload payload;
  };
  tcp::socket& socket_;
  asio::steady_timer signal_;
  std::deque<Out> queue_;
  bool closed_ = false;
};

Status FromErrorCode(const boost::system::error_code& ec, std::string_view context);

// "host:port" -> endpoint; hosts are numeric IPv4/IPv6 or "localhost".
Result<tcp::endpoint> ParseEndpoint(const std::string& address);

// A listening socket on `address` ("host:0" picks a free port) and the
// address actually bound ("[v6]:port" for IPv6). Unavailable if it cannot
// bind; `what` names the server in the message.
struct Listener {
  std::shared_ptr<tcp::acceptor> acceptor;
  std::string bound;
};
Result<Listener> Listen(const asio::any_io_executor& ex, const std::string& address, std::string_view what);

// Stops a server: closes its listener and every connection still open
// (Connection::Close). The caller holds the lock that guards both.
template <typename Connection>
void CloseListenerAndConnections(std::shared_ptr<tcp::acceptor>& acceptor,
                                 std::vector<std::weak_ptr<Connection>>& open) {
  if (acceptor) {
    boost::system::error_code ec;
    acceptor->close(ec);
    acceptor.reset();
  }
  for (auto& w : open) {
    if (auto c = w.lock()) c->Close();
  }
  open.clear();
}

}  // namespace cfs::rpc
