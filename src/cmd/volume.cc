// `cfs volume create|list|info`: volumes and their meta partitions, from the
// master.
#include <iostream>

#include <fmt/format.h>

#include "cmd/commands.h"
#include "cmd/serve.h"
#include "common/strings.h"
#include "master/cluster_map.h"
#include "proto/master.pb.h"
#include "rpc/leader_client.h"
#include "rpc/runtime.h"

namespace cfs::cmd {
namespace {

using master::kOpenEnd;

struct VolumeArgs {
  std::string master = "127.0.0.1:9333";
  std::string name;
  std::string capacity;
  uint32_t replicas = 0;
  bool json = false;
};

// Calls the master leader once, on a one-thread runtime.
template <typename Resp>
Result<Resp> MasterCall(const VolumeArgs& a, proto::Method method, const google::protobuf::Message& req) {
  rpc::Runtime runtime(1);
  rpc::ChannelPool pool(runtime.executor());
  rpc::LeaderClient masters(pool, SplitList(a.master));
  Resp resp;
  auto r = runtime.Run(masters.Call(method, req, &resp, "", std::chrono::seconds(30)));
  pool.CloseAll();
  runtime.Stop();
  if (!r.ok()) return r.status();
  return resp;
}

std::string End(uint64_t end) { return end == kOpenEnd ? "open" : std::to_string(end); }

void PrintVolume(const proto::VolumeView& v, bool partitions) {
  uint64_t inodes = 0, dentries = 0;
  for (const auto& p : v.partitions()) {
    inodes += p.inodes();
    dentries += p.dentries();
  }
  std::cout << fmt::format("{}  id {}  replicas {}  capacity {}  meta partitions {}  inodes {}  dentries {}\n",
                           v.name(), v.id(), v.replicas(),
                           v.capacity_bytes() == 0 ? std::string("unlimited") : FormatBytes(v.capacity_bytes()),
                           v.partitions_size(), inodes, dentries);
  if (!partitions) return;
  std::cout << fmt::format("  {:>6}  {:>21}  {:>21}  {:>10}  {:>10}  {:<22}  {}\n", "id", "start", "end", "inodes",
                           "dentries", "leader", "replicas");
  for (const auto& p : v.partitions()) {
    std::string replicas;
    for (int i = 0; i < p.replicas_size(); ++i) replicas += (i ? "," : "") + p.replicas(i);
    std::cout << fmt::format("  {:>6}  {:>21}  {:>21}  {:>10}  {:>10}  {:<22}  {}\n", p.record().id(), p.record().start(),
                             End(p.record().end()), p.inodes(), p.dentries(), p.leader().empty() ? "-" : p.leader(),
                             replicas);
  }
}

std::string VolumeJson(const proto::VolumeView& v) {
  std::string parts;
  for (int i = 0; i < v.partitions_size(); ++i) {
    const auto& p = v.partitions(i);
    std::string replicas;
    for (int r = 0; r < p.replicas_size(); ++r) replicas += fmt::format("{}\"{}\"", r ? "," : "", p.replicas(r));
    parts += fmt::format(
        R"({}{{"id":{},"start":{},"end":{},"inodes":{},"dentries":{},"next_inode":{},"leader":"{}","replicas":[{}]}})",
        i ? "," : "", p.record().id(), p.record().start(), p.record().end() == kOpenEnd ? "null" : std::to_string(p.record().end()),
        p.inodes(), p.dentries(), p.next_inode(), p.leader(), replicas);
  }
  return fmt::format(R"({{"id":{},"name":"{}","replicas":{},"capacity_bytes":{},"partitions":[{}]}})", v.id(), v.name(),
                     v.replicas(), v.capacity_bytes(), parts);
}

int Create(const VolumeArgs& a) {
  proto::CreateVolumeRequest req;
  req.set_name(a.name);
  req.set_replicas(a.replicas);
  if (!a.capacity.empty()) {
    auto capacity = ParseSize(a.capacity);
    if (!capacity.ok()) {
      std::cerr << "cfs volume create: --capacity: " << capacity.status().message() << "\n";
      return 2;
    }
    req.set_capacity_bytes(*capacity);
  }
  auto v = MasterCall<proto::VolumeView>(a, proto::MASTER_CREATE_VOLUME, req);
  if (!v.ok()) {
    std::cerr << "cfs volume create: " << v.status().ToString() << "\n";
    return 1;
  }
  if (a.json) {
    std::cout << VolumeJson(*v) << "\n";
  } else {
    std::cout << "created ";
    PrintVolume(*v, true);
  }
  return 0;
}

int List(const VolumeArgs& a) {
  auto list = MasterCall<proto::ListVolumesResponse>(a, proto::MASTER_LIST_VOLUMES, proto::ListVolumesRequest());
  if (!list.ok()) {
    std::cerr << "cfs volume list: " << list.status().ToString() << "\n";
    return 1;
  }
  if (a.json) {
    std::string out = "[";
    for (int i = 0; i < list->volumes_size(); ++i) out += (i ? "," : "") + VolumeJson(list->volumes(i));
    std::cout << out << "]\n";
    return 0;
  }
  if (list->volumes().empty()) std::cout << "no volumes\n";
  for (const auto& v : list->volumes()) PrintVolume(v, false);
  return 0;
}

int Info(const VolumeArgs& a) {
  proto::GetVolumeRequest req;
  req.set_name(a.name);
  auto v = MasterCall<proto::VolumeView>(a, proto::MASTER_GET_VOLUME, req);
  if (!v.ok()) {
    std::cerr << "cfs volume info: " << v.status().ToString() << "\n";
    return 1;
  }
  if (a.json) {
    std::cout << VolumeJson(*v) << "\n";
  } else {
    PrintVolume(*v, true);
  }
  return 0;
}

std::shared_ptr<VolumeArgs> Common(CLI::App* app) {
  auto a = std::make_shared<VolumeArgs>();
  app->add_option("--master", a->master, "HOST:PORT[,HOST:PORT...] of the masters")->capture_default_str();
  app->add_flag("--json", a->json, "print JSON instead of text");
  return a;
}

}  // namespace

std::function<int()> SetupVolumeCreate(CLI::App* app) {
  auto a = Common(app);
  app->add_option("name", a->name, "the volume's name: letters, digits, '-', '_', '.'")->required();
  app->add_option("--capacity", a->capacity, "quota, e.g. 100G (default: unlimited)");
  app->add_option("--replicas", a->replicas, "copies of metadata and data (default: 3, or fewer metanodes)");
  return [a] { return Create(*a); };
}

std::function<int()> SetupVolumeList(CLI::App* app) {
  auto a = Common(app);
  return [a] { return List(*a); };
}

std::function<int()> SetupVolumeInfo(CLI::App* app) {
  auto a = Common(app);
  app->add_option("name", a->name, "the volume")->required();
  return [a] { return Info(*a); };
}

}  // namespace cfs::cmd
