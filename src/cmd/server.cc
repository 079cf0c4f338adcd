// `cfs server --dir D [--mount MNT]`: a whole cluster in one process for one
// machine, with no configuration: a master, a metanode and a datanode
// (state under D/master, D/metanode, D/datanode), a volume "default" made on
// first start (one copy of everything), and optionally that volume mounted.
#include <iostream>

#include <fmt/format.h>

#include "cmd/commands.h"
#include "cmd/mount.h"
#include "cmd/serve.h"
#include "common/logging.h"
#include "datanode/service.h"
#include "datanode/store.h"
#include "master/service.h"
#include "metanode/service.h"
#include "rpc/leader_client.h"
#include "rpc/server.h"

namespace cfs::cmd {
namespace {

namespace asio = boost::asio;

struct ServerArgs {
  std::string dir;
  std::string mount;
  std::string master_addr = "127.0.0.1:9333";
  std::string metanode_addr = "127.0.0.1:9334";
  std::string datanode_addr = "127.0.0.1:8080";
  std::string volume = "default";
  int max_block_groups = 16;
  uint64_t block_group_mb = 1024;
  int threads = 2;
  int deletion_grace_ms = 10000;
};

// Creates the volume unless it exists.
asio::awaitable<Status> EnsureVolume(rpc::LeaderClient& masters, const std::string& name) {
  proto::GetVolumeRequest get;
  get.set_name(name);
  proto::VolumeView view;
  auto r = co_await masters.Call(proto::MASTER_GET_VOLUME, get, &view, "", std::chrono::seconds(30));
  if (r.ok()) co_return Status::OK();
  if (!r.status().Is(Code::kNotFound)) co_return r.status();
  proto::CreateVolumeRequest create;
  create.set_name(name);
  create.set_replicas(1);
  proto::VolumeView made;
  auto c = co_await masters.Call(proto::MASTER_CREATE_VOLUME, create, &made, "", std::chrono::seconds(60));
  if (!c.ok()) co_return c.status();
  spdlog::info("server: created volume {}", name);
  co_return Status::OK();
}

int Fail(const std::string& what, const Status& s) {
  std::cerr << "cfs server: " << what << ": " << s.ToString() << "\n";
  return 2;
}

int RunServer(const ServerArgs& a) {
  auto store = datanode::Store::Open({{a.dir + "/datanode", a.max_block_groups}});
  if (!store.ok()) return Fail("datanode store", store.status());
  rpc::Runtime runtime(a.threads);
  rpc::ChannelPool pool(runtime.executor());

  master::MasterOptions mo;
  mo.dir = a.dir + "/master";
  mo.address = a.master_addr;
  mo.default_replication = "000";
  mo.block_group_size_limit_bytes = a.block_group_mb << 20;
  mo.heartbeat_interval = std::chrono::milliseconds(1000);
  mo.dead_after = mo.heartbeat_interval * 4;
  auto master = master::MasterService::Open(pool, mo);
  if (!master.ok()) return Fail("master", master.status());
  rpc::Server master_server(runtime.executor());
  (*master)->Register(master_server);
  auto master_bound = master_server.Listen(a.master_addr);
  if (!master_bound.ok()) return Fail("master address", master_bound.status());
  auto http = StartHttp(runtime, "", *master_bound, [s = master->get()] { return s->StatusJson(); });
  if (!http.ok()) return Fail("master http", http.status());
  (*master)->Start(runtime.executor());

  datanode::DatanodeServiceOptions dopt;
  dopt.address = a.datanode_addr;
  dopt.masters = {*master_bound};
  dopt.heartbeat_interval = std::chrono::milliseconds(1000);
  auto datanode = std::make_unique<datanode::DatanodeService>(**store, pool, dopt);
  rpc::Server datanode_server(runtime.executor());
  datanode->Register(datanode_server);
  auto datanode_bound = datanode_server.Listen(a.datanode_addr);
  if (!datanode_bound.ok()) return Fail("datanode address", datanode_bound.status());
  datanode->StartHeartbeats(runtime.executor());

  metanode::MetanodeOptions no;
  no.dir = a.dir + "/metanode";
  no.address = a.metanode_addr;
  no.masters = {*master_bound};
  no.heartbeat_interval = std::chrono::milliseconds(1000);
  no.deletion_grace = std::chrono::milliseconds(a.deletion_grace_ms);
  auto id = runtime.Run(metanode::MetanodeService::ObtainNodeId(pool, no, std::chrono::seconds(60)));
  if (!id.ok()) return Fail("metanode registration", id.status());
  auto metanode = metanode::MetanodeService::Open(pool, no, *id);
  if (!metanode.ok()) return Fail("metanode", metanode.status());
  rpc::Server metanode_server(runtime.executor());
  (*metanode)->Register(metanode_server);
  auto metanode_bound = metanode_server.Listen(a.metanode_addr);
  if (!metanode_bound.ok()) return Fail("metanode address", metanode_bound.status());
  (*metanode)->Start(runtime.executor());

  rpc::LeaderClient masters(pool, {*master_bound});
  if (Status s = runtime.Run(EnsureVolume(masters, a.volume)); !s.ok()) return Fail("volume " + a.volume, s);
  std::cout << fmt::format("cfs server: master {}, metanode {}, datanode {}; volume {}; state in {}\n", *master_bound,
                           *metanode_bound, *datanode_bound, a.volume, a.dir)
            << std::flush;

  int rc = 0;
  if (!a.mount.empty()) {
    // The mount on its own thread, as `cfs mount` runs it: it spins, the
    // servers do not.
    rpc::Runtime client_runtime(1, std::chrono::microseconds(kMountSpinMicros));
    rpc::ChannelPool client_pool(client_runtime.executor());
    client::FileSystemOptions fo;
    fo.masters = {*master_bound};
    fo.volume = a.volume;
    rc = MountAndServe(client_runtime, client_pool, fo, a.mount, [&] {
      std::cout << fmt::format("cfs server: volume {} mounted at {}\n", a.volume, a.mount) << std::flush;
    });
    client_pool.CloseAll();
    client_runtime.Stop();
  } else {
    WaitForShutdownSignal(runtime);
  }
  if (*http) (*http)->Stop();
  (*metanode)->Stop();
  metanode_server.Stop();
  datanode_server.Stop();
  datanode->Stop();
  (*master)->Stop();
  master_server.Stop();
  pool.CloseAll();
  runtime.Stop();
  datanode.reset();
  store->reset();  // syncs every block group
  return rc;
}

}  // namespace

std::function<int()> SetupServer(CLI::App* app) {
  auto a = std::make_shared<ServerArgs>();
  app->add_option("--dir", a->dir, "where the cluster keeps its state (created if missing)")->required();
  app->add_option("--mount", a->mount, "mount the volume here (an empty directory) until stopped");
  app->add_option("--volume", a->volume, "the volume made on first start and mounted")->capture_default_str();
  app->add_option("--master-addr", a->master_addr, "the master's HOST:PORT")->capture_default_str();
  app->add_option("--metanode-addr", a->metanode_addr, "the metanode's HOST:PORT")->capture_default_str();
  app->add_option("--datanode-addr", a->datanode_addr, "the datanode's HOST:PORT")->capture_default_str();
  app->add_option("--max-block-groups", a->max_block_groups, "block groups the datanode may hold")
      ->capture_default_str();
  app->add_option("--block-group-mb", a->block_group_mb, "size limit of a block group, MiB")->capture_default_str();
  app->add_option("--threads", a->threads, "event-loop threads")->check(CLI::Range(1, 256))->capture_default_str();
  app->add_option("--deletion-grace-ms", a->deletion_grace_ms,
                  "a freed needle is deleted no sooner than this (readers may hold it)")
      ->capture_default_str();
  app->footer("Runs until SIGINT or SIGTERM (or, with --mount, until unmounted), then unmounts and stops.");
  return [a] { return RunServer(*a); };
}

}  // namespace cfs::cmd
