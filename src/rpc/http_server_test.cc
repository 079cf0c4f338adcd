// HttpServer over loopback, driven by a raw client so malformed input and
// connection reuse can be checked byte by byte.
#include "rpc/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "common/metrics.h"
#include "rpc/runtime.h"

namespace cfs::rpc {
namespace {

using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace http = beast::http;
using Response = http::response<http::string_body>;

constexpr char kStatusJson[] = R"({"role":"test","ok":true})";

// A blocking HTTP client with its own io_context; every operation gives up
// after a timeout so a broken server fails the test instead of hanging it.
class RawClient {
 public:
  explicit RawClient(const std::string& address) : stream_(io_) {
    auto ep = ParseEndpoint(address);
    EXPECT_TRUE(ep.ok());
    stream_.expires_after(5s);
    stream_.async_connect(*ep, [this](const boost::system::error_code& e) { ec_ = e; });
    Drive();
  }

  bool connected() const { return !ec_; }
  const boost::system::error_code& error() const { return ec_; }

  bool Send(std::string bytes) {
    stream_.expires_after(5s);
    asio::async_write(stream_, asio::buffer(bytes), [this](const boost::system::error_code& e, size_t) { ec_ = e; });
    Drive();
    return !ec_;
  }

  // One response; nullopt when the connection fails or closes first.
  std::optional<Response> Read(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);  // a response to HEAD has no body, whatever Content-Length says
    parser.body_limit(64 << 20);
    stream_.expires_after(5s);
    http::async_read(stream_, buffer_, parser, [this](const boost::system::error_code& e, size_t) { ec_ = e; });
    Drive();
    if (ec_) return std::nullopt;
    return parser.release();
  }

  std::optional<Response> Get(const std::string& target, const std::string& extra_headers = "") {
    if (!Send("GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n")) return std::nullopt;
    return Read();
  }

  // True when the server closes the connection (EOF or reset) within `within`
  // without sending anything more.
  bool ClosedByServer(std::chrono::milliseconds within = 5s) {
    if (buffer_.size() > 0) return false;
    char c;
    size_t got = 0;
    stream_.expires_after(within);
    stream_.async_read_some(asio::buffer(&c, 1), [&](const boost::system::error_code& e, size_t n) {
      ec_ = e;
      got = n;
    });
    Drive();
    return got == 0 && (ec_ == asio::error::eof || ec_ == asio::error::connection_reset);
  }

 private:
  void Drive() {
    io_.restart();
    io_.run();
  }

  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  boost::system::error_code ec_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void TearDown() override {
    server_.reset();
    runtime_.Stop();
  }

  void Start(HttpServerOptions options = {}) {
    server_ = std::make_unique<HttpServer>(runtime_.executor(), options);
    AddDefaultRoutes(*server_, [] { return std::string(kStatusJson); });
    auto bound = server_->Listen("127.0.0.1:0");
    ASSERT_TRUE(bound.ok()) << bound.status().ToString();
    address_ = *bound;
  }

  Runtime runtime_{2};
  std::unique_ptr<HttpServer> server_;
  std::string address_;
};

TEST_F(HttpServerTest, MetricsServesTheDefaultRegistryAsPrometheusText) {
  Counter& hits = MetricsRegistry::Default().GetCounter("cfs_http_test_hits_total", "Hits seen by the HTTP test.");
  hits.Add(3);
  RawClient c(address_);
  auto res = c.Get("/metrics");
  ASSERT_TRUE(res) << c.error().message();
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_EQ(res->at(http::field::content_type), "text/plain; version=0.0.4");
  EXPECT_EQ(res->body(), MetricsRegistry::Default().RenderPrometheus());
  EXPECT_NE(res->body().find("# TYPE cfs_http_test_hits_total counter\n"), std::string::npos) << res->body();
  EXPECT_NE(res->body().find(fmt::format("cfs_http_test_hits_total {}\n", hits.Value())), std::string::npos);
}

TEST_F(HttpServerTest, StatusServesTheRoleJson) {
  RawClient c(address_);
  auto res = c.Get("/status");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_EQ(res->at(http::field::content_type), "application/json");
  EXPECT_EQ(res->body(), kStatusJson);
}

TEST_F(HttpServerTest, QueryStringIsIgnoredForRouting) {
  RawClient c(address_);
  auto res = c.Get("/status?verbose=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_EQ(res->body(), kStatusJson);
}

TEST_F(HttpServerTest, UnknownPathIs404AndKeepsTheConnection) {
  RawClient c(address_);
  auto res = c.Get("/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 404);
  res = c.Get("/metricsx");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 404);
  res = c.Get("/status");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 200);
}

TEST_F(HttpServerTest, OtherMethodsAre405WithAllow) {
  RawClient c(address_);
  ASSERT_TRUE(c.Send("POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
  auto res = c.Read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 405);
  EXPECT_EQ(res->at(http::field::allow), "GET, HEAD");
  ASSERT_TRUE(c.Send("DELETE /status HTTP/1.1\r\nHost: t\r\n\r\n"));
  res = c.Read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 405);
  // The body was consumed: the connection still serves.
  res = c.Get("/status");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), kStatusJson);
}

TEST_F(HttpServerTest, HeadGivesTheHeadersWithoutTheBody) {
  RawClient c(address_);
  ASSERT_TRUE(c.Send("HEAD /status HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto res = c.Read(/*head=*/true);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_EQ(res->at(http::field::content_length), std::to_string(std::string_view(kStatusJson).size()));
  EXPECT_EQ(res->body(), "");
  // No stray body bytes: the next response parses.
  res = c.Get("/status");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), kStatusJson);
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  RawClient c(address_);
  auto a = c.Get("/status");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->keep_alive());
  auto b = c.Get("/metrics");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->result_int(), 200);
  EXPECT_EQ(server_->Stats().connections, 1u);
  EXPECT_EQ(server_->Stats().requests, 2u);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  RawClient c(address_);
  ASSERT_TRUE(c.Send("GET /status HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto a = c.Read();
  auto b = c.Read();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->result_int(), 200);
  EXPECT_EQ(b->result_int(), 404);
}

TEST_F(HttpServerTest, ConnectionCloseAndHttp10AreHonoured) {
  {
    RawClient c(address_);
    auto res = c.Get("/status", "Connection: close\r\n");
    ASSERT_TRUE(res);
    EXPECT_FALSE(res->keep_alive());
    EXPECT_TRUE(c.ClosedByServer());
  }
  {
    RawClient c(address_);
    ASSERT_TRUE(c.Send("GET /status HTTP/1.0\r\n\r\n"));
    auto res = c.Read();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->version(), 10u);
    EXPECT_EQ(res->body(), kStatusJson);
    EXPECT_TRUE(c.ClosedByServer());
  }
}

TEST_F(HttpServerTest, GarbageClosesOnlyThatConnection) {
  RawClient good(address_);
  ASSERT_TRUE(good.Get("/status"));

  RawClient bad(address_);
  ASSERT_TRUE(bad.Send(std::string("\x00\x01\xff garbage \r\n\r\n", 16)));
  auto res = bad.Read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 400);
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(bad.ClosedByServer());

  RawClient bad_version(address_);
  ASSERT_TRUE(bad_version.Send("GET /status HTTP/9.Z\r\n\r\n"));
  EXPECT_TRUE(bad_version.Read());
  EXPECT_TRUE(bad_version.ClosedByServer());

  // The connection opened before still serves, and new ones are accepted.
  auto again = good.Get("/status");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body(), kStatusJson);
  RawClient fresh(address_);
  ASSERT_TRUE(fresh.Get("/metrics"));
  EXPECT_EQ(server_->Stats().bad_requests, 2u);
}

TEST_F(HttpServerTest, OversizedHeaderIs431AndClosed) {
  RawClient c(address_);
  ASSERT_TRUE(c.Send("GET /status HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(16 << 10, 'a') + "\r\n\r\n"));
  auto res = c.Read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 431);
  EXPECT_TRUE(c.ClosedByServer());
  RawClient fresh(address_);
  ASSERT_TRUE(fresh.Get("/status"));
}

TEST_F(HttpServerTest, OversizedBodyIs413AndClosed) {
  RawClient c(address_);
  // The declared length alone is refused, before any body arrives.
  ASSERT_TRUE(c.Send("GET /status HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n"));
  auto res = c.Read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 413);
  EXPECT_TRUE(c.ClosedByServer());
}

TEST_F(HttpServerTest, BodyWithinTheLimitIsAccepted) {
  RawClient c(address_);
  ASSERT_TRUE(c.Send("GET /status HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'b')));
  auto res = c.Read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 200);
}

TEST_F(HttpServerTest, IdleAndStalledConnectionsAreClosedAfterTheTimeout) {
  server_.reset();
  Start(HttpServerOptions{.idle_timeout = 200ms});
  RawClient idle(address_);
  RawClient stalled(address_);
  ASSERT_TRUE(stalled.Send("GET /status HTTP/1.1\r\nHo"));  // and never the rest
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.ClosedByServer(5s));
  EXPECT_TRUE(stalled.ClosedByServer(5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
}

TEST_F(HttpServerTest, HandlerThatThrowsGives500) {
  server_->Route("/boom", []() -> HttpReply { throw std::runtime_error("kaput"); });
  server_->Route("/weird", [] { return HttpReply{7, "text/plain", "x"}; });
  RawClient c(address_);
  auto res = c.Get("/boom");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 500);
  EXPECT_NE(res->body().find("kaput"), std::string::npos);
  res = c.Get("/weird");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 500);
}

TEST_F(HttpServerTest, RoutesMayBeAddedAndReplacedAfterListen) {
  server_->Route("/x", [] { return HttpReply{200, "text/plain", "one"}; });
  RawClient c(address_);
  EXPECT_EQ(c.Get("/x")->body(), "one");
  server_->Route("/x", [] { return HttpReply{201, "text/plain", "two"}; });
  auto res = c.Get("/x");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 201);
  EXPECT_EQ(res->body(), "two");
}

TEST_F(HttpServerTest, ListenReportsTheBoundPortAndRefusesBadAddresses) {
  EXPECT_FALSE(address_.ends_with(":0")) << address_;
  EXPECT_TRUE(address_.starts_with("127.0.0.1:")) << address_;
  HttpServer other(runtime_.executor());
  auto r = other.Listen("not-an-address");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  r = other.Listen(address_);  // taken
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  r = server_->Listen("127.0.0.1:0");  // already listening
  EXPECT_FALSE(r.ok());
  other.Stop();
  r = other.Listen("127.0.0.1:0");  // stopped for good
  EXPECT_FALSE(r.ok());
}

TEST_F(HttpServerTest, StopWaitsForARunningHandlerAndNoneRunsAfter) {
  std::atomic<bool> started{false}, finished{false};
  std::atomic<int> calls{0};
  server_->Route("/slow", [&] {
    calls++;
    started = true;
    std::this_thread::sleep_for(200ms);
    finished = true;
    return HttpReply{200, "text/plain", "slow"};
  });
  RawClient keep(address_);
  ASSERT_TRUE(keep.Get("/status"));
  std::thread client([&] {
    RawClient c(address_);
    c.Get("/slow");  // answered or closed: either is fine
  });
  while (!started) std::this_thread::sleep_for(1ms);
  server_->Stop();
  EXPECT_TRUE(finished);
  // The connection that was open is closed, and no handler runs any more.
  keep.Send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_FALSE(keep.Read());
  client.join();
  EXPECT_EQ(calls, 1);
}

// The Server's coroutines own their state: destroying the server while
// clients are connected, idle, mid-request or hammering it must be safe (run
// under ASan with --gtest_repeat).
TEST_F(HttpServerTest, DestroyingTheServerWithClientsConnectedIsSafe) {
  RawClient idle(address_);
  RawClient kept(address_);
  ASSERT_TRUE(kept.Get("/metrics"));
  RawClient partial(address_);
  ASSERT_TRUE(partial.Send("GET /metrics HTTP/1.1\r\nHost"));
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::thread hammer([&] {
    while (!stop) {
      RawClient c(address_);
      if (!c.connected()) break;
      while (!stop && c.Get("/metrics")) answered++;
      if (!stop) break;  // the server went away
    }
  });
  while (answered < 3) std::this_thread::sleep_for(1ms);
  server_.reset();
  EXPECT_TRUE(idle.ClosedByServer());
  EXPECT_TRUE(kept.ClosedByServer());
  EXPECT_TRUE(partial.ClosedByServer());
  stop = true;
  hammer.join();
  // The runtime keeps going with whatever was left over.
  std::this_thread::sleep_for(20ms);
  HttpServer next(runtime_.executor());
  AddDefaultRoutes(next, nullptr);
  auto bound = next.Listen("127.0.0.1:0");
  ASSERT_TRUE(bound.ok());
  RawClient c(*bound);
  auto res = c.Get("/status");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), "{}");
}

}  // namespace
}  // namespace cfs::rpc
