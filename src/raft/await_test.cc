// AwaitCallback: a callback's answer ends the wait and its deadline timer.
#include "raft/await.h"

#include <gtest/gtest.h>

namespace cfs::raft {
namespace {

using namespace std::chrono_literals;

TEST(AwaitCallbackTest, AnAnswerCancelsTheDeadlineTimer) {
  asio::io_context ctx;
  Result<int> got = Status::Internal("not run");
  std::function<void(std::function<void(Result<int>)>)> start = [](std::function<void(Result<int>)> done) {
    done(Result<int>(7));
  };
  asio::co_spawn(ctx, AwaitCallback<Result<int>>(start, 60s, "test"), [&](std::exception_ptr, Result<int> r) {
    got = std::move(r);
  });
  // With the timer left pending, run() would wait for it: 60 s.
  const auto t0 = std::chrono::steady_clock::now();
  ctx.run();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, 7);
}

TEST(AwaitCallbackTest, NoAnswerIsATimeoutAndALateAnswerIsIgnored) {
  asio::io_context ctx;
  Result<int> got = Status::Internal("not run");
  std::function<void(Result<int>)> saved;
  std::function<void(std::function<void(Result<int>)>)> start = [&](std::function<void(Result<int>)> done) {
    saved = std::move(done);
  };
  asio::co_spawn(ctx, AwaitCallback<Result<int>>(start, 20ms, "test"), [&](std::exception_ptr, Result<int> r) {
    got = std::move(r);
  });
  ctx.run();
  EXPECT_TRUE(got.status().Is(Code::kTimeout)) << got.status().ToString();
  saved(Result<int>(1));  // after the deadline: nothing to resume
  ctx.restart();
  ctx.run();
  EXPECT_TRUE(got.status().Is(Code::kTimeout));
}

}  // namespace
}  // namespace cfs::raft
