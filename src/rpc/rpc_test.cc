// Server and Channel over loopback: the behaviours the rest of the system
// relies on.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <atomic>
#include <thread>

#include "rpc/channel.h"
#include "rpc/runtime.h"
#include "rpc/server.h"

namespace cfs::rpc {
namespace {

using namespace std::chrono_literals;
using proto::EchoRequest;
using proto::EchoResponse;

class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer("127.0.0.1:0"); }
  void TearDown() override {
    if (server_) server_->Stop();
    runtime_.Stop();
  }

  void StartServer(const std::string& addr, ServerOptions options = {}) {
    server_ = std::make_unique<Server>(runtime_.executor(), options);
    server_->Handle<EchoRequest, EchoResponse>(
        proto::RPC_ECHO, [this](EchoRequest& req, std::string& payload, const Call&) -> asio::awaitable<Result<Answer<EchoResponse>>> {
          if (req.data() == "fail") co_return Status::NotLeader("not the leader", "10.0.0.9:9333");
          if (req.data().starts_with("sleep")) {
            asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(std::stoi(req.data().substr(5))));
            co_await t.async_wait(asio::use_awaitable);
          }
          if (req.data() == "hold") {
            held_++;
            while (!release_) {
              asio::steady_timer t(co_await asio::this_coro::executor, 1ms);
              co_await t.async_wait(asio::use_awaitable);
            }
          }
          Answer<EchoResponse> a;
          a.response.set_data(req.data());
          a.payload = std::move(payload);
          // "skipN": the payload answered from its N-th byte on.
          if (req.data().starts_with("skip")) a.payload_offset = std::stoul(req.data().substr(4));
          co_return a;
        });
    auto bound = server_->Listen(addr);
    ASSERT_TRUE(bound.ok()) << bound.status().ToString();
    address_ = *bound;
  }

  Result<std::pair<std::string, std::string>> Echo(Channel& ch, std::string data, std::string payload = "",
                                                   std::chrono::milliseconds timeout = 5s) {
    return runtime_.Run([&]() -> asio::awaitable<Result<std::pair<std::string, std::string>>> {
      EchoRequest req;
      req.set_data(data);
      EchoResponse resp;
      auto r = co_await ch.Call(proto::RPC_ECHO, req, &resp, payload, timeout);
      if (!r.ok()) co_return r.status();
      co_return std::make_pair(resp.data(), *r);
    }());
  }

  Runtime runtime_{2};
  std::unique_ptr<Server> server_;
  std::string address_;
  std::atomic<int> held_{0};
  std::atomic<bool> release_{false};
};

TEST_F(RpcTest, EchoCarriesMessageAndRawPayload) {
  auto ch = Channel::Make(runtime_.executor(), address_);
  std::string payload(1 << 20, 'p');
  auto r = Echo(*ch, "hello", payload);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first, "hello");
  EXPECT_EQ(r->second, payload);
}

TEST_F(RpcTest, AnAnswerPayloadIsSentFromItsOffsetOn) {
  auto ch = Channel::Make(runtime_.executor(), address_);
  auto small = Echo(*ch, "skip5", "head:payload");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->second, "payload");
  // A needle's data behind its record header, past the reader's buffer.
  std::string record(4 << 20, '\0');
  for (size_t i = 0; i < record.size(); ++i) record[i] = static_cast<char>(i * 13 + i / 977);
  auto large = Echo(*ch, "skip37", record);
  ASSERT_TRUE(large.ok()) << large.status().ToString();
  EXPECT_EQ(large->second, record.substr(37));
  auto all = Echo(*ch, "skip12", "head:payload");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->second, "");
}

TEST_F(RpcTest, OneSharedPayloadGoesToSeveralPeersAndIsLetGoOfAfterwards) {
  // Two servers, as a datanode forwards one needle to two replicas.
  Server other(runtime_.executor());
  other.Handle<EchoRequest, EchoResponse>(
      proto::RPC_ECHO, [](EchoRequest& req, std::string& payload, const Call&) -> asio::awaitable<Result<Answer<EchoResponse>>> {
        Answer<EchoResponse> a;
        a.response.set_data(req.data() + " (other)");
        a.payload = std::move(payload);
        co_return a;
      });
  auto other_address = other.Listen("127.0.0.1:0");
  ASSERT_TRUE(other_address.ok());
  auto a = Channel::Make(runtime_.executor(), address_);
  auto b = Channel::Make(runtime_.executor(), *other_address);
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 + i / 4096);
  auto shared = std::make_shared<const std::string>(bytes);
  EchoRequest req;
  req.set_data("needle");
  auto fa = asio::co_spawn(runtime_.executor(), a->Call(proto::RPC_ECHO, req.SerializeAsString(), shared, 5s), asio::use_future);
  auto fb = asio::co_spawn(runtime_.executor(), b->Call(proto::RPC_ECHO, req.SerializeAsString(), shared, 5s), asio::use_future);
  auto ra = fa.get();
  auto rb = fb.get();
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  ASSERT_TRUE(rb.ok()) << rb.status().ToString();
  EXPECT_EQ(ra->payload, bytes);
  EXPECT_EQ(rb->payload, bytes);
  EchoResponse resp;
  ASSERT_TRUE(resp.ParseFromString(rb->message));
  EXPECT_EQ(resp.data(), "needle (other)");
  // Both frames were written: neither channel holds the bytes any more (the
  // writers let go right after their write, which the replies followed).
  for (int i = 0; i < 1000 && shared.use_count() > 1; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(shared.use_count(), 1);
  other.Stop();
}

TEST_F(RpcTest, ManyCallsInFlightShareOneConnection) {
  auto ch = Channel::Make(runtime_.executor(), address_);
  std::vector<std::future<Result<Response>>> futures;
  for (int i = 0; i < 200; ++i) {
    EchoRequest req;
    req.set_data(i % 2 ? "sleep5" : std::to_string(i));
    futures.push_back(
        asio::co_spawn(runtime_.executor(), ch->Call(proto::RPC_ECHO, req.SerializeAsString(), "x", 5s), asio::use_future));
  }
  int results = 0;
  for (auto& f : futures) results += f.get().ok() ? 1 : 0;
  EXPECT_EQ(results, 200);
  EXPECT_EQ(server_->Stats().connections, 1u);
  EXPECT_EQ(server_->Stats().requests, 200u);
}

TEST_F(RpcTest, ErrorsArriveAsStatusWithTheLeaderHint) {
  auto ch = Channel::Make(runtime_.executor(), address_);
  auto r = Echo(*ch, "fail");
  ASSERT_TRUE(r.status().Is(Code::kNotLeader));
  EXPECT_EQ(r.status().leader_hint(), "10.0.0.9:9333");
  EXPECT_NE(r.status().message().find("not the leader"), std::string::npos);
}

TEST_F(RpcTest, UnknownMethodIsNotSupported) {
  auto ch = Channel::Make(runtime_.executor(), address_);
  auto r = runtime_.Run(ch->Call(proto::MASTER_ASSIGN, "", "", 2s));
  EXPECT_TRUE(r.status().Is(Code::kNotSupported)) << r.status().ToString();
}

TEST_F(RpcTest, DeadlineFailsTheCallWithTimeoutAndTheChannelGoesOn) {
  auto ch = Channel::Make(runtime_.executor(), address_);
  auto start = std::chrono::steady_clock::now();
  auto r = Echo(*ch, "sleep1000", "", 50ms);
  EXPECT_TRUE(r.status().Is(Code::kTimeout)) << r.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 900ms);
  EXPECT_TRUE(Echo(*ch, "after").ok());
}

TEST_F(RpcTest, CancelledCallCompletesWithCancelled) {
  auto ch = Channel::Make(runtime_.executor(), address_);
  asio::cancellation_signal cancel;
  EchoRequest req;
  req.set_data("sleep2000");
  auto fut = asio::co_spawn(runtime_.executor(), ch->Call(proto::RPC_ECHO, req.SerializeAsString(), "", 5s),
                            asio::bind_cancellation_slot(cancel.slot(), asio::use_future));
  std::this_thread::sleep_for(50ms);
  asio::post(runtime_.executor(), [&] { cancel.emit(asio::cancellation_type::terminal); });
  auto r = fut.get();
  EXPECT_TRUE(r.status().Is(Code::kCancelled)) << r.status().ToString();
  EXPECT_TRUE(Echo(*ch, "after").ok());
}

TEST_F(RpcTest, MalformedFrameClosesOnlyThatConnection) {
  auto ch = Channel::Make(runtime_.executor(), address_);
  ASSERT_TRUE(Echo(*ch, "before").ok());
  asio::io_context io;
  tcp::socket raw(io);
  raw.connect(ParseEndpoint(address_).value());
  std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456789";
  asio::write(raw, asio::buffer(garbage));
  char buf[16];
  boost::system::error_code ec;
  raw.read_some(asio::buffer(buf), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_EQ(server_->Stats().bad_frames, 1u);
  EXPECT_TRUE(Echo(*ch, "still").ok()) << "the server and other connections go on";
}

TEST_F(RpcTest, OversizedFrameIsRefusedAndTheCallerToldUnavailable) {
  server_->Stop();
  ServerOptions small;
  small.limits.max_payload_bytes = 1000;
  StartServer("127.0.0.1:0", small);
  auto ch = Channel::Make(runtime_.executor(), address_);
  auto r = Echo(*ch, "big", std::string(2000, 'x'));
  EXPECT_TRUE(r.status().Is(Code::kUnavailable)) << r.status().ToString();
  EXPECT_EQ(server_->Stats().bad_frames, 1u);
  EXPECT_TRUE(Echo(*ch, "small", std::string(10, 'x')).ok()) << "reconnects";
}

TEST_F(RpcTest, ReconnectsAfterTheServerRestarts) {
  auto ch = Channel::Make(runtime_.executor(), address_);
  ASSERT_TRUE(Echo(*ch, "one").ok());
  std::string addr = address_;
  server_->Stop();
  server_.reset();
  auto down = Echo(*ch, "two", "", 300ms);
  EXPECT_FALSE(down.ok());
  EXPECT_TRUE(down.status().Is(Code::kUnavailable) || down.status().Is(Code::kTimeout)) << down.status().ToString();
  StartServer(addr);
  Result<std::pair<std::string, std::string>> up = Status::Unavailable("not tried");
  for (int i = 0; i < 50 && !up.ok(); ++i) up = Echo(*ch, "three", "", 2s);
  EXPECT_TRUE(up.ok()) << up.status().ToString();
}

TEST_F(RpcTest, UnreachablePeerFailsWithinTheDeadline) {
  auto ch = Channel::Make(runtime_.executor(), "127.0.0.1:1");
  auto start = std::chrono::steady_clock::now();
  auto r = Echo(*ch, "x", "", 500ms);
  EXPECT_TRUE(r.status().Is(Code::kUnavailable) || r.status().Is(Code::kTimeout)) << r.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(RpcTest, InFlightLimitPushesBackUntilASlotFrees) {
  ChannelOptions o;
  o.max_inflight = 2;
  auto ch = Channel::Make(runtime_.executor(), address_, o);
  EchoRequest hold;
  hold.set_data("hold");
  auto f1 = asio::co_spawn(runtime_.executor(), ch->Call(proto::RPC_ECHO, hold.SerializeAsString(), "", 5s), asio::use_future);
  auto f2 = asio::co_spawn(runtime_.executor(), ch->Call(proto::RPC_ECHO, hold.SerializeAsString(), "", 5s), asio::use_future);
  while (held_ < 2) std::this_thread::sleep_for(1ms);
  EchoRequest quick;
  quick.set_data("quick");
  auto f3 = asio::co_spawn(runtime_.executor(), ch->Call(proto::RPC_ECHO, quick.SerializeAsString(), "", 5s), asio::use_future);
  EXPECT_EQ(f3.wait_for(100ms), std::future_status::timeout) << "the third call waits for a slot";
  EXPECT_EQ(server_->Stats().requests, 2u);
  release_ = true;
  EXPECT_TRUE(f1.get().ok());
  EXPECT_TRUE(f2.get().ok());
  EXPECT_TRUE(f3.get().ok());
}

// A client runtime that spins before sleeping (the mount's) gets its
// answers whether they come while it spins or after it fell asleep, sleeps
// when idle (it does not burn a core), and stops.
TEST_F(RpcTest, SpinningRuntimeAnswersSleepsWhenIdleAndStops) {
  Runtime client(1, 200us);
  auto ch = Channel::Make(client.executor(), address_);
  auto call = [&](std::string data) {
    EchoRequest req;
    req.set_data(data);
    return client.Run(ch->Call(proto::RPC_ECHO, req.SerializeAsString(), "", 5s));
  };
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(call("quick").ok()) << i;
  ASSERT_TRUE(call("sleep20").ok()) << "an answer after the spin ended";

  auto cpu = [] {
    struct rusage u {};
    getrusage(RUSAGE_SELF, &u);
    return std::chrono::seconds(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           std::chrono::microseconds(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  };
  const auto before = cpu();
  std::this_thread::sleep_for(500ms);
  EXPECT_LT(cpu() - before, 250ms) << "an idle spinning runtime kept a core busy";
  ch->Close();
  client.Stop();
}

}  // namespace
}  // namespace cfs::rpc
