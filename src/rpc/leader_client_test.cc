// LeaderClient against real servers over loopback: hints, retries, and
// when it gives up.
#include "rpc/leader_client.h"

#include <gtest/gtest.h>

#include <atomic>

#include "rpc/runtime.h"
#include "rpc/server.h"

namespace cfs::rpc {
namespace {

using namespace std::chrono_literals;
using proto::EchoRequest;
using proto::EchoResponse;

// A replica: answers with `answer` (OK: echoes its own name), counting calls.
struct Replica {
  std::unique_ptr<Server> server;
  std::string address;
  std::atomic<int> calls{0};
  std::function<Status(int call)> answer;
};

class LeaderClientTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& r : replicas_) r->server->Stop();
    runtime_.Stop();
  }

  Replica& Add(std::function<Status(int)> answer) {
    auto r = std::make_unique<Replica>();
    r->answer = std::move(answer);
    r->server = std::make_unique<Server>(runtime_.executor());
    Replica* self = r.get();
    r->server->Handle<EchoRequest, EchoResponse>(
        proto::RPC_ECHO, [self](EchoRequest&, std::string&, const Call&) -> asio::awaitable<Result<Answer<EchoResponse>>> {
          Status s = self->answer(self->calls++);
          if (!s.ok()) co_return s;
          Answer<EchoResponse> a;
          a.response.set_data(self->address);
          co_return a;
        });
    auto bound = r->server->Listen("127.0.0.1:0");
    EXPECT_TRUE(bound.ok());
    r->address = *bound;
    replicas_.push_back(std::move(r));
    return *replicas_.back();
  }

  Result<std::string> CallVia(LeaderClient& c, std::chrono::milliseconds timeout = 3s) {
    return runtime_.Run([&]() -> asio::awaitable<Result<std::string>> {
      EchoRequest req;
      EchoResponse resp;
      auto r = co_await c.Call(proto::RPC_ECHO, req, &resp, "", timeout);
      if (!r.ok()) co_return r.status();
      co_return resp.data();
    }());
  }

  Runtime runtime_{2};
  ChannelPool pool_{runtime_.executor()};
  std::vector<std::unique_ptr<Replica>> replicas_;
};

TEST_F(LeaderClientTest, FollowsTheHintAndThenGoesToTheLeaderFirst) {
  Replica& leader = Add([](int) { return Status::OK(); });
  Replica& follower = Add([&](int) { return Status::NotLeader("follower", leader.address); });
  LeaderClient c(pool_, {follower.address, leader.address});
  EXPECT_EQ(CallVia(c).value(), leader.address);
  EXPECT_EQ(c.leader(), leader.address);
  EXPECT_EQ(CallVia(c).value(), leader.address);
  EXPECT_EQ(follower.calls, 1);  // the second call went to the leader directly
}

TEST_F(LeaderClientTest, AHintOutsideTheListIsTried) {
  Replica& leader = Add([](int) { return Status::OK(); });
  Replica& follower = Add([&](int) { return Status::NotLeader("follower", leader.address); });
  LeaderClient c(pool_, {follower.address});
  EXPECT_EQ(CallVia(c).value(), leader.address);
}

TEST_F(LeaderClientTest, WaitsOutAnElection) {
  // No leader for the first three calls, then one.
  Replica& r = Add([](int call) { return call < 3 ? Status::Unavailable("electing") : Status::OK(); });
  LeaderClient c(pool_, {r.address});
  EXPECT_EQ(CallVia(c).value(), r.address);
  EXPECT_EQ(r.calls, 4);
}

TEST_F(LeaderClientTest, AnAnswerOfTheServiceIsReturnedAtOnce) {
  Replica& r = Add([](int) { return Status::NotFound("no such thing"); });
  Replica& other = Add([](int) { return Status::OK(); });
  LeaderClient c(pool_, {r.address, other.address});
  auto got = CallVia(c);
  EXPECT_TRUE(got.status().Is(Code::kNotFound)) << got.status().ToString();
  EXPECT_EQ(other.calls, 0);
}

TEST_F(LeaderClientTest, NobodyServingItEndsTheCallWithoutWaiting) {
  Replica& a = Add([](int) { return Status::NotLeader("not here", ""); });
  Replica& b = Add([](int) { return Status::NotLeader("not here", ""); });
  LeaderClient c(pool_, {a.address, b.address});
  const auto start = std::chrono::steady_clock::now();
  auto got = CallVia(c, 10s);
  EXPECT_TRUE(got.status().Is(Code::kNotLeader));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(a.calls + b.calls, 2);
}

TEST_F(LeaderClientTest, GivesUpAtTheDeadline) {
  Replica& r = Add([](int) { return Status::Unavailable("electing forever"); });
  LeaderClient c(pool_, {r.address});
  const auto start = std::chrono::steady_clock::now();
  auto got = CallVia(c, 300ms);
  EXPECT_TRUE(got.status().Is(Code::kUnavailable));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  LeaderClient none(pool_, {});
  EXPECT_TRUE(CallVia(none).status().Is(Code::kInvalidArgument));
}

}  // namespace
}  // namespace cfs::rpc
